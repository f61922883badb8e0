"""`notifier_check`: a real round trip through the configured backend, on fresh connections.

postgres: LISTEN on a fresh channel, NOTIFY from a second connection, receive. redis: join a fresh group through
channels-redis, send to it, receive. polling: the table is readable. memory: the in-process layer round trip.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import asdict, dataclass

from django.conf import settings

from kubenode import runtime

from . import diagnostics

TIMEOUT_S = 5.0


@dataclass
class CheckResult:
    requested: str
    effective: str
    healthy: bool
    fallback: bool
    round_trip_ms: float | None
    error: str = ""
    diagnostics: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


async def _postgres_round_trip(replica: str) -> None:
    import psycopg

    from .postgres import conninfo

    channel = f"kubenode_check_{uuid.uuid4().hex[:12]}"
    token = uuid.uuid4().hex
    async with await psycopg.AsyncConnection.connect(**conninfo("check", replica), autocommit=True) as listen, \
            await psycopg.AsyncConnection.connect(**conninfo("check", replica), autocommit=True) as send:
        await listen.execute(f'LISTEN "{channel}"')
        await send.execute("SELECT pg_notify(%s, %s)", (channel, token))
        async for notify in listen.notifies(timeout=TIMEOUT_S):
            if notify.payload == token:
                return
    raise TimeoutError(f"NOTIFY on {channel} did not arrive within {TIMEOUT_S:.0f} s")


async def _redis_round_trip(replica: str) -> None:
    from .redis import make_layer

    layer = make_layer(prefix="kubenode-check")
    try:
        group = f"check{uuid.uuid4().hex[:12]}"
        channel = await layer.new_channel(f"check.{replica}.")
        await layer.group_add(group, channel)
        token = uuid.uuid4().hex
        await layer.group_send(group, {"type": "check", "token": token})
        message = await asyncio.wait_for(layer.receive(channel), TIMEOUT_S)
        await layer.group_discard(group, channel)
        if message.get("token") != token:
            raise RuntimeError("Redis answered with another message than the one sent")
    finally:
        await layer.close_pools()


async def _memory_round_trip(replica: str) -> None:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "check"})
    await asyncio.wait_for(layer.receive(channel), TIMEOUT_S)


def _table_readable() -> None:
    from django.db import close_old_connections, connection

    close_old_connections()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def memory_in_a_multi_process_setup(config=None) -> str:
    """Why the memory notifier cannot serve this configuration ("" when it can): it reaches only the process that
    rings it, and this configuration is clearly meant for several processes (a PostgreSQL database, or
    progress.enable_database=true set on purpose)."""
    config = config or settings.CONFIG
    if config.notify_type != "memory":
        return ""
    source = config.source("progress.notify_type")
    if config.database_type == "postgres":
        reason = f"database.type is postgres ({config.source('database.type')})"
        fix = "set PROGRESS_NOTIFY_TYPE=postgres (or redis, or polling)"
    elif config["progress.enable_database"] and config.source("progress.enable_database") != "default":
        reason = f"progress.enable_database is true ({config.source('progress.enable_database')})"
        fix = ("several processes need a PostgreSQL database (DB_TYPE=postgres) and the postgres notifier; "
               "for one process set PROGRESS_ENABLE_DATABASE=false")
    else:
        return ""
    return (f"the memory notifier (progress.notify_type from {source}) reaches only the process that rings it, "
            f"but {reason}, a set-up for several processes (web replicas, workers): {fix}")


def run_check(requested: str | None = None) -> CheckResult:
    requested = requested or settings.CONFIG.notify_type
    replica = runtime.replica_id() or "check"
    if requested == "memory":
        why = memory_in_a_multi_process_setup()
        if why:
            return CheckResult(requested, "memory", False, False, None, why,
                               f"notifier diagnostics: {why}")
    started = time.perf_counter()
    try:
        if requested == "postgres":
            asyncio.run(asyncio.wait_for(_postgres_round_trip(replica), TIMEOUT_S + 12))
        elif requested == "redis":
            asyncio.run(asyncio.wait_for(_redis_round_trip(replica), TIMEOUT_S + 12))
        elif requested == "memory":
            asyncio.run(_memory_round_trip(replica))
        else:
            _table_readable()
    except Exception as exc:  # noqa: BLE001 - every failure is reported, with the diagnostics block
        error = diagnostics.error_text(exc)
        backend = "redis" if requested == "redis" else "postgres"
        block = diagnostics.block(backend, error, fallback="" if requested == "polling" else "polling")
        if requested == "polling" and settings.CONFIG.database_type != "postgres":
            block = f"polling reads the task table; the database is not readable: {error}"
        return CheckResult(requested, "polling", False, requested != "polling", None, error, block)
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    return CheckResult(requested, requested, True, False, elapsed)
