"""progress.listener=standalone: the channel layer the web processes share, and how they see the listeners.

- `SharedLayer`: channels-redis at progress.redis.* (one Redis or Sentinel, as the redis notifier). Every web
  process's WebSocket consumers join their user's group there; the `progress_listen` processes send each doorbell
  to that group once, and channels-redis hands it to every web process with a consumer in it (one Redis message
  per process, whatever the number of connections there).
- The registry: each running `progress_listen` announces its notifier status under
  `kubenode-ws:listener:<replica>` every ANNOUNCE_INTERVAL_S with a time to live of ANNOUNCE_TTL_S, and removes
  it when it stops. Web processes read it (`ListenerWatch`) for /readyz and the admin: which listeners are alive,
  which backend each really uses, and whether any is healthy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from channels_redis.core import RedisChannelLayer

from .redis import redis_hosts

log = logging.getLogger("kubenode.progress.notify")

PREFIX = "kubenode-ws"
REGISTRY_PREFIX = f"{PREFIX}:listener:"
ANNOUNCE_INTERVAL_S = 2.0
ANNOUNCE_TTL_S = 10
WATCH_INTERVAL_S = 2.0
# channels-redis forgets group members after group_expiry; consumers renew theirs (progress.consumers)
GROUP_EXPIRY_S = 86400


class SharedLayer(RedisChannelLayer):
    """channels-redis with kubenode's Redis settings (progress.redis.*); doorbells only, so small messages."""

    def __init__(self, **kwargs):
        kwargs.setdefault("hosts", redis_hosts())
        kwargs.setdefault("prefix", PREFIX)
        kwargs.setdefault("capacity", 1000)
        kwargs.setdefault("expiry", 60)
        kwargs.setdefault("group_expiry", GROUP_EXPIRY_S)
        super().__init__(**kwargs)


async def announce(layer: RedisChannelLayer, replica: str, status: dict) -> None:
    """Say this listener is alive, with its status, for ANNOUNCE_TTL_S."""
    record = {**status, "replica": replica, "announced_at": time.time()}
    await layer.connection(0).set(REGISTRY_PREFIX + replica, json.dumps(record), ex=ANNOUNCE_TTL_S)


async def retire(layer: RedisChannelLayer, replica: str) -> None:
    await layer.connection(0).delete(REGISTRY_PREFIX + replica)


async def listeners(layer: RedisChannelLayer) -> list[dict]:
    """The status of every listener alive now, by replica name."""
    conn = layer.connection(0)
    keys = sorted([key async for key in conn.scan_iter(match=REGISTRY_PREFIX + "*", count=100)])
    if not keys:
        return []
    out = []
    for raw in await conn.mget(keys):
        if raw:
            try:
                out.append(json.loads(raw))
            except ValueError:
                continue
    return sorted(out, key=lambda r: str(r.get("replica", "")))


def healthy_listener(record: dict) -> bool:
    return bool(record.get("healthy")) and not record.get("fallback")


class ListenerWatch:
    """In a web process of the standalone mode: reads the listener registry every WATCH_INTERVAL_S and reports."""

    def __init__(self, requested: str, replica: str):
        self.requested = requested
        self.replica = replica
        self.listeners: list[dict] = []
        self.error = ""
        self.checked_at: float | None = None
        self._task: asyncio.Task | None = None
        self._was_healthy: bool | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._loop())
            log.info("notifier: requested %s, listener standalone: this process opens no LISTEN connection; "
                     "doorbells come from progress_listen through Redis (replica %s)", self.requested, self.replica)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping
                pass

    async def _loop(self) -> None:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        while True:
            try:
                self.listeners = await listeners(layer)
                self.error = ""
            except Exception as exc:  # noqa: BLE001 - reported in the status
                from .diagnostics import error_text

                self.listeners, self.error = [], error_text(exc)
            self.checked_at = time.time()
            self._report()
            await asyncio.sleep(WATCH_INTERVAL_S)

    def _report(self) -> None:
        healthy = self.healthy
        if healthy == self._was_healthy:
            return
        self._was_healthy = healthy
        if healthy:
            log.info("notifier: standalone listener(s) verified: %s", self._summary())
        else:
            log.warning("notifier: no healthy standalone listener (%s): live progress stops until one runs "
                        "(`manage.py progress_listen`); pages still read every result from the database",
                        self.error or self._summary() or "none announced")

    @property
    def healthy(self) -> bool:
        return any(healthy_listener(r) for r in self.listeners)

    def _summary(self) -> str:
        return ", ".join(f"{r.get('replica')} {r.get('effective')}"
                         + (" verified" if r.get("verified") else "") for r in self.listeners)

    def status(self) -> dict:
        best = next((r for r in self.listeners if healthy_listener(r)), self.listeners[0] if self.listeners else {})
        if self.error:
            why = f"the shared channel layer (Redis) does not answer: {self.error}"
        elif not self.listeners:
            why = "no standalone listener announced itself (run manage.py progress_listen)"
        elif not self.healthy:
            why = "; ".join(f"{r.get('replica')}: {r.get('why') or 'not verified'}" for r in self.listeners)
        else:
            why = ""
        return {"requested": self.requested, "effective": best.get("effective", "none"),
                "healthy": self.healthy, "fallback": bool(best.get("fallback", not self.listeners)), "why": why,
                "verified": bool(best.get("verified")), "listener": "standalone",
                "listeners": [{k: r.get(k) for k in ("replica", "effective", "healthy", "verified", "fallback",
                                                     "why", "round_trip_ms", "reconnects", "announced_at")}
                              for r in self.listeners],
                "round_trip_ms": best.get("round_trip_ms"), "reconnects": best.get("reconnects", 0),
                "replica": self.replica, "checked_at": self.checked_at}
