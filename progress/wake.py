"""What wakes an idle worker: the "task queued" doorbell of the configured backend, in a thread of its own.

- PostgreSQL (the notifier is postgres or polling on a PostgreSQL database): LISTEN on `kubenode_tasks` on a
  connection built from Django's own connection settings (so the very database the worker claims from), named
  `kubenode-worker:<replica>` in pg_stat_activity, with TCP keepalives. After every (re)connect the worker looks
  for queued work at once: a doorbell rung while it was disconnected is never waited for until the safety poll.
- Redis (the notifier is redis): a channels-redis group `kubenode-tasks`, published after commit.
- Otherwise (SQLite: one process) the in-process wake-up of progress.queue is enough.

The worker also polls the table every `progress.safety_poll_interval` ms, whatever wakes it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection

from kubenode import runtime

log = logging.getLogger("kubenode.progress.worker")

TASK_CHANNEL = "kubenode_tasks"
REDIS_GROUP = "kubenode-tasks"
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}
BACKOFF_MAX_S = 10.0


def side_connection_params(role: str, replica: str | None = None) -> dict:
    """psycopg keywords for a connection of its own to Django's database (the one this process uses, test
    databases included), named kubenode-<role>:<replica>, with keepalives and a 10 s connect timeout."""
    params = dict(connection.get_connection_params())
    params.pop("cursor_factory", None)
    params.pop("pool", None)
    params["application_name"] = f"kubenode-{role}:{replica or runtime.replica_id()}"[:63]
    params.setdefault("connect_timeout", 10)
    for key, value in KEEPALIVES.items():
        params.setdefault(key, value)
    return params


def backend() -> str:
    """Which doorbell wakes workers in this configuration: redis (the Redis notifier), postgres (a PostgreSQL
    database, unless the notifier is polling: then NOTIFY may not be delivered, as through a transaction-mode
    pooler), or local (this process only; other processes poll)."""
    notify = settings.CONFIG.notify_type
    if notify == "redis":
        return "redis"
    if connection.vendor == "postgresql" and notify != "polling":
        return "postgres"
    return "local"


def poll_interval_s() -> float:
    """How often an idle worker reads the queue: the safety poll when a doorbell wakes it, the poll interval when
    nothing from another process does."""
    config = settings.CONFIG
    if backend() == "local" and connection.vendor == "postgresql":
        return config["progress.poll_interval"] / 1000
    return config["progress.safety_poll_interval"] / 1000


class WakeSource:
    """Calls `on_wake(source, payload)` for every doorbell (source "doorbell") and after every (re)connect
    (source "reconnect"). Runs in a daemon thread; `stop()` ends it within a second."""

    def __init__(self, on_wake: Callable[[str, str], None], replica: str):
        self.on_wake = on_wake
        self.replica = replica
        self.kind = backend()
        self.connected = False
        self.received = 0
        self.reconnects = 0
        self.error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.kind == "local":
            return
        target = self._postgres_loop if self.kind == "postgres" else self._redis_loop
        self._thread = threading.Thread(target=target, name="kubenode-worker-wake", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def status(self) -> dict:
        return {"backend": self.kind, "connected": self.connected if self.kind != "local" else True,
                "received": self.received, "reconnects": self.reconnects, "error": self.error}

    def _woken(self, source: str, payload: str = "") -> None:
        try:
            self.on_wake(source, payload)
        except Exception:  # noqa: BLE001 - a wake-up is a hint
            log.debug("wake-up handler failed", exc_info=True)

    def _failed(self, exc: BaseException, backoff: float) -> None:
        text = " ".join(str(exc).split())[:200] or type(exc).__name__
        if self.connected or not self.error:
            log.warning("worker doorbell (%s) lost: %s; polling the queue until it is back (retry in %.0fs)",
                        self.kind, text, backoff)
        self.connected, self.error = False, text

    def _postgres_loop(self) -> None:
        import psycopg

        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(**side_connection_params("worker", self.replica), autocommit=True) as conn:
                    conn.execute(f'LISTEN "{TASK_CHANNEL}"')
                    if self.error:
                        log.info("worker doorbell (postgres) connected again")
                    self.connected, self.error, backoff = True, "", 0.5
                    self._woken("reconnect")
                    while not self._stop.is_set():
                        for notify in conn.notifies(timeout=1.0):
                            self.received += 1
                            self._woken("doorbell", notify.payload)
            except Exception as exc:  # noqa: BLE001 - reconnect with backoff; the poll covers the gap
                self._failed(exc, backoff)
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2, BACKOFF_MAX_S)
            self.reconnects += 1
        self.connected = False

    def _redis_loop(self) -> None:
        asyncio.run(self._redis_main())

    async def _redis_main(self) -> None:
        from .notify.redis import RedisSource

        backoff = 0.5
        while not self._stop.is_set():
            source = RedisSource(f"worker.{self.replica}", group=REDIS_GROUP)
            try:
                await asyncio.wait_for(source.connect(), 15)
                if self.error:
                    log.info("worker doorbell (redis) connected again")
                self.connected, self.error, backoff = True, "", 0.5
                self._woken("reconnect")
                renewed = time.monotonic()
                while not self._stop.is_set():
                    for payload in await source.receive(1.0):
                        self.received += 1
                        self._woken("doorbell", payload)
                    if time.monotonic() - renewed > 30:  # keep the group membership from expiring
                        await source.layer.group_add(REDIS_GROUP, source.channel)
                        renewed = time.monotonic()
            except Exception as exc:  # noqa: BLE001
                self._failed(exc, backoff)
            finally:
                await source.close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)
            self.reconnects += 1
        self.connected = False


class _RedisPublisher:
    """A background loop that publishes "task queued" doorbells to the workers' Redis group."""

    def __init__(self):
        self._loop: asyncio.AbstractEventLoop | None = None
        self._layer = None
        self._lock = threading.Lock()

    def publish(self, payload: str) -> None:
        from .notify.redis import make_layer

        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._layer = make_layer()
                threading.Thread(target=self._loop.run_forever, name="kubenode-task-publisher", daemon=True).start()
        future = asyncio.run_coroutine_threadsafe(
            self._layer.group_send(REDIS_GROUP, {"type": "doorbell", "payload": payload}), self._loop)
        future.add_done_callback(_published)


def _published(future) -> None:
    exc = future.exception()
    if exc is not None:
        log.warning("task doorbell not published (Redis): %s; workers find the task by polling", type(exc).__name__)


_publisher = _RedisPublisher()


def publish_redis(payload: str) -> None:
    try:
        _publisher.publish(payload)
    except Exception as exc:  # noqa: BLE001 - the poll finds the task anyway
        log.warning("task doorbell not published (Redis): %s", type(exc).__name__)
