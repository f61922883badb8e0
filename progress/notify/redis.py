"""Redis through channels-redis: after commit the doorbell is sent to one group that every replica's listener
joined; each listener hands it to its own process's clients. One Redis, or Redis Sentinel.

A Sentinel given as `progress.redis.addr` (kube-node-manager's design showed `addr: redis-sentinel:26379`) is
recognised (it answers ROLE with "sentinel") and used as `progress.redis.sentinel_addrs`, with a warning that says
so; if it does not monitor `progress.redis.sentinel_master_name`, the connection stops with a message naming
`sentinel_addrs` instead of failing later on `unknown command 'ZADD'`.

Rows are committed before the doorbell is published, so a subscriber never reads ahead of the table; a doorbell
lost while Redis is down is repaired by the poll that takes over (fallback) and by the catch-up on reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.db import transaction

from kubenode import metrics

from .base import Doorbell
from .notifier import Notifier

log = logging.getLogger("kubenode.progress.notify")

DOORBELL_GROUP = "doorbells"
SOCKET_TIMEOUTS = {"socket_connect_timeout": 5, "socket_timeout": 15}
DETECT_TIMEOUT_S = 2.0

_sentinel_at: dict[tuple[str, str], list[str]] = {}
_detect_lock = threading.Lock()


class SentinelAtAddr(Exception):
    """progress.redis.addr is a Redis Sentinel that cannot be used as it is configured (the message says why)."""


def sentinel_masters_at(addr: str, password: str | None) -> list[str] | None:
    """The master names the Sentinel at `addr` monitors; None when `addr` is not a Sentinel or does not answer
    (then it is used as a Redis server, and its own errors say what is wrong). A Sentinel found is remembered."""
    key = (addr, password or "")
    with _detect_lock:
        if key in _sentinel_at:
            return _sentinel_at[key]
    import redis

    host, _, port = addr.rpartition(":")
    client = redis.Redis(host=host, port=int(port), password=password, socket_connect_timeout=DETECT_TIMEOUT_S,
                         socket_timeout=DETECT_TIMEOUT_S)
    try:
        role = client.execute_command("ROLE")
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()
    if not role or (role[0].decode() if isinstance(role[0], bytes) else str(role[0])) != "sentinel":
        return None
    masters = [m.decode() if isinstance(m, bytes) else str(m) for m in (role[1] if len(role) > 1 else [])]
    with _detect_lock:
        first = key not in _sentinel_at
        _sentinel_at[key] = masters
    if first:
        log.warning("progress.redis.addr %s is a Redis Sentinel (it monitors: %s): using it as "
                    "progress.redis.sentinel_addrs; set PROGRESS_REDIS_SENTINEL_ADDRS=%s (and leave "
                    "PROGRESS_REDIS_ADDR unset) to say so", addr, ", ".join(masters) or "no master", addr)
    return masters


def redis_hosts(config=None) -> list[dict]:
    config = config or settings.CONFIG
    password = config["progress.redis.password"] or None
    sentinels = config["progress.redis.sentinel_addrs"]
    if not sentinels:
        addr = config["progress.redis.addr"]
        masters = sentinel_masters_at(addr, password)
        if masters is not None:
            name = config["progress.redis.sentinel_master_name"]
            if name not in masters:
                raise SentinelAtAddr(
                    f"progress.redis.addr {addr} is a Redis Sentinel, not a Redis server, and it monitors no master "
                    f"named {name!r} (it monitors: {', '.join(masters) or 'none'}): set "
                    f"progress.redis.sentinel_addrs (PROGRESS_REDIS_SENTINEL_ADDRS) to the Sentinels and "
                    f"progress.redis.sentinel_master_name (PROGRESS_REDIS_SENTINEL_MASTER_NAME) to the master's name")
            sentinels = [addr]
    if sentinels:
        return [{"sentinels": [(a.rpartition(":")[0], int(a.rpartition(":")[2])) for a in sentinels],
                 "master_name": config["progress.redis.sentinel_master_name"], "db": config["progress.redis.db"],
                 "password": password, "sentinel_kwargs": {"password": password, **SOCKET_TIMEOUTS},
                 **SOCKET_TIMEOUTS}]
    host, _, port = config["progress.redis.addr"].rpartition(":")
    return [{"address": f"redis://{host}:{port}/{config['progress.redis.db']}", "password": password,
             **SOCKET_TIMEOUTS}]


def make_layer(config=None, prefix: str = "kubenode", hosts: list[dict] | None = None) -> RedisChannelLayer:
    return RedisChannelLayer(hosts=hosts if hosts is not None else redis_hosts(config), prefix=prefix,
                             capacity=10_000, expiry=60)


class RedisSource:
    def __init__(self, replica: str, group: str = DOORBELL_GROUP, config=None):
        self.replica = replica
        self.group = group
        self.config = config
        self.layer: RedisChannelLayer | None = None
        self.channel = ""

    async def connect(self) -> None:
        await self.close()
        hosts = await asyncio.to_thread(redis_hosts, self.config)  # may ask addr whether it is a Sentinel
        self.layer = make_layer(self.config, hosts=hosts)
        self.channel = await self.layer.new_channel(f"listener.{self.replica}.")
        await self.layer.group_add(self.group, self.channel)

    async def send(self, payload: str) -> None:
        await self.layer.group_add(self.group, self.channel)  # keeps the membership fresh (group expiry)
        await self.layer.group_send(self.group, {"type": "doorbell", "payload": payload})

    async def receive(self, timeout: float) -> list[str]:
        try:
            message = await asyncio.wait_for(self.layer.receive(self.channel), timeout)
        except TimeoutError:
            return []
        return [message["payload"]]

    async def close(self) -> None:
        layer, self.layer = self.layer, None
        if layer is not None:
            try:
                await layer.group_discard(self.group, self.channel)
            except Exception:  # noqa: BLE001 - Redis may be gone
                pass
            try:
                await layer.close_pools()
            except Exception:  # noqa: BLE001
                log.debug("closing the Redis pools failed", exc_info=True)


class Publisher:
    """One background event loop that publishes doorbells, so the writer's threads never block on Redis."""

    def __init__(self):
        self._loop: asyncio.AbstractEventLoop | None = None
        self._layer: RedisChannelLayer | None = None
        self._lock = threading.Lock()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._layer = make_layer()
                threading.Thread(target=self._loop.run_forever, name="kubenode-redis-publisher",
                                 daemon=True).start()
            return self._loop

    def publish(self, doorbell: Doorbell, backend: str) -> None:
        loop = self._ensure()
        future = asyncio.run_coroutine_threadsafe(
            self._layer.group_send(DOORBELL_GROUP, {"type": "doorbell", "payload": doorbell.payload()}), loop)
        future.add_done_callback(lambda f: self._done(f, doorbell, backend))

    @staticmethod
    def _done(future, doorbell: Doorbell, backend: str) -> None:
        exc = future.exception()
        if exc is None:
            metrics.doorbell_sent(backend)
            log.debug("doorbell published: Redis notification sent task=%s seq=%s", doorbell.task, doorbell.seq)
        else:
            metrics.notify_failed(backend)
            log.warning("doorbell not published (Redis): task=%s seq=%s: %s; the poll repairs it",
                        doorbell.task, doorbell.seq, type(exc).__name__)


class RedisNotifier(Notifier):
    type = "redis"

    def __init__(self, replica: str | None = None):
        super().__init__(replica)
        self.publisher = Publisher()

    def make_source(self):
        return RedisSource(self.replica)

    def ring(self, doorbell: Doorbell) -> None:
        transaction.on_commit(lambda: self.publisher.publish(doorbell, self.type))
        self.forward_locally_unless_listening(doorbell)
