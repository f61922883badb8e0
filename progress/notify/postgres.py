"""PostgreSQL LISTEN/NOTIFY: the doorbell is a pg_notify inside the writer's transaction.

The listening connection is psycopg 3 async, autocommit, built from the very same resolved settings as Django's
connection (settings.CONFIG.postgres_conninfo), named `kubenode-listener:<replica>` in pg_stat_activity, with TCP
keepalives and a 10 s connect timeout. Self-probes are sent from a second small connection, so an echo proves
that the listening connection itself still receives.
"""

from __future__ import annotations

import logging

import psycopg
from django.conf import settings
from django.db import connection

from kubenode import metrics

from .base import PG_CHANNEL, Doorbell
from .notifier import Notifier

log = logging.getLogger("kubenode.progress.notify")

KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


def conninfo(role: str, replica: str, config=None) -> dict:
    """psycopg keywords for a listener-side connection: Django's settings, our name, keepalives, timeouts."""
    config = config or settings.CONFIG
    return config.postgres_conninfo(application_name=f"kubenode-{role}:{replica}"[:63], connect_timeout=10,
                                    **KEEPALIVES)


class PostgresSource:
    def __init__(self, replica: str, channel: str = PG_CHANNEL):
        self.replica = replica
        self.channel = channel
        self.listen_conn: psycopg.AsyncConnection | None = None
        self.send_conn: psycopg.AsyncConnection | None = None

    async def connect(self) -> None:
        await self.close()
        self.listen_conn = await psycopg.AsyncConnection.connect(**conninfo("listener", self.replica),
                                                                 autocommit=True)
        await self.listen_conn.execute(f'LISTEN "{self.channel}"')

    async def send(self, payload: str) -> None:
        if self.send_conn is None or self.send_conn.closed:
            self.send_conn = await psycopg.AsyncConnection.connect(**conninfo("probe", self.replica),
                                                                   autocommit=True)
        try:
            await self.send_conn.execute("SELECT pg_notify(%s, %s)", (self.channel, payload))
        except psycopg.Error:
            await self.send_conn.close()
            self.send_conn = None
            raise

    async def receive(self, timeout: float) -> list[str]:
        conn = self.listen_conn
        if conn is None or conn.closed:
            raise psycopg.OperationalError("the listening connection is closed")
        return [n.payload async for n in conn.notifies(timeout=timeout, stop_after=1)]

    async def close(self) -> None:
        for name in ("listen_conn", "send_conn"):
            conn = getattr(self, name)
            setattr(self, name, None)
            if conn is not None and not conn.closed:
                try:
                    await conn.close()
                except Exception:  # noqa: BLE001 - closing a broken connection
                    log.debug("closing %s failed", name, exc_info=True)


class PostgresNotifier(Notifier):
    type = "postgres"

    def make_source(self):
        return PostgresSource(self.replica)

    def ring(self, doorbell: Doorbell) -> None:
        """Inside the writer's transaction: delivered to every listener when (and only if) it commits."""
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, %s)", [PG_CHANNEL, doorbell.payload()])
        except Exception:
            metrics.notify_failed(self.type)
            raise  # the writer's transaction fails with it: rows and doorbell stay together
        metrics.doorbell_sent(self.type)
        log.debug("doorbell published: Sending PostgreSQL notification task=%s seq=%s (delivered at commit)",
                  doorbell.task, doorbell.seq)
        self.forward_locally_unless_listening(doorbell)
