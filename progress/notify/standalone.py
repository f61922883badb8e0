"""The standalone listener (progress.listener=standalone): `manage.py progress_listen` runs this.

The same Listener as in a web process (self-probe, fallback to polling with the diagnostics block, recovery, the
catch-up and safety poll from the table), delivering each doorbell to the user's group on the shared layer
(channels-redis) instead of an in-memory one. Several may run at once: every web process's connections keep a
cursor per task, so a doorbell that arrives twice (two listeners, or a listener and the safety poll) costs one
read and never sends a message twice.

It announces itself in the listener registry (layer.py) so the web processes can say whether one is alive, and
serves /healthz, /readyz and /metrics on progress.listener_health_port. SIGTERM: stop announcing, close, exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

from kubenode import metrics

from . import get_notifier
from .base import Doorbell, user_group
from .health import HealthServer
from .layer import ANNOUNCE_INTERVAL_S, SharedLayer, announce, retire

log = logging.getLogger("kubenode.progress.listener")


def limit_pool_to_one() -> None:
    """This process queries from one thread (the table poll): its pool holds one connection, not
    database.max_idle_conns of them (the pool is built on first use, after this)."""
    pool = connection.settings_dict.get("OPTIONS", {}).get("pool")
    if isinstance(pool, dict):
        pool["min_size"], pool["max_size"] = 0, 1


class StandaloneListener:
    def __init__(self, health_port: int | None = None):
        self.layer = get_channel_layer()
        if not isinstance(self.layer, SharedLayer):
            raise RuntimeError("progress.listener is not standalone: there is no shared channel layer to feed")
        limit_pool_to_one()
        self.notifier = get_notifier()
        self.replica = self.notifier.replica
        self.health_port = settings.CONFIG["progress.listener_health_port"] if health_port is None else health_port
        self.layer_ok: bool | None = None
        self.layer_error = ""
        self.stopping = False
        self.forwarded = 0
        self._pending: set[asyncio.Task] = set()

    # --- delivery

    def deliver(self, doorbell: Doorbell) -> None:
        task = asyncio.get_running_loop().create_task(self._send(doorbell))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, doorbell: Doorbell) -> None:
        try:
            await self.layer.group_send(user_group(doorbell.user), doorbell.group_message())
        except Exception as exc:  # noqa: BLE001 - the web processes' safety reads repair a lost doorbell
            metrics.doorbell_forwarded(False)
            self._layer_failed(exc)
            return
        self.forwarded += 1
        metrics.doorbell_forwarded(True)
        log.debug("doorbell forwarded task=%s seq=%s replica=%s to the shared layer", doorbell.task, doorbell.seq,
                  doorbell.replica)

    # --- health

    def _layer_failed(self, exc: BaseException) -> None:
        from .diagnostics import error_text

        text = error_text(exc)
        if self.layer_ok is not False:
            log.error("listener: the shared channel layer (Redis) does not answer: %s; doorbells cannot reach the "
                      "web processes", text)
        self.layer_ok, self.layer_error = False, text

    def _layer_answered(self) -> None:
        if self.layer_ok is False:
            log.info("listener: the shared channel layer (Redis) answers again")
        self.layer_ok, self.layer_error = True, ""

    def status(self) -> dict:
        return {**self.notifier.status(), "listener": "standalone", "layer_ok": self.layer_ok,
                "layer_error": self.layer_error, "forwarded": self.forwarded}

    def alive(self) -> tuple[int, dict]:
        return 200, {"status": "ok"}

    def ready(self) -> tuple[int, dict]:
        """200 when doorbells reach the shared layer: verified, or polling the table (degraded); else 503."""
        state = self.status()
        if self.stopping:
            return 503, {"status": "shutting down", "listener": state}
        if not self.layer_ok:
            return 503, {"status": "unavailable", "listener": state}
        degraded = state.get("fallback") or not state.get("healthy")
        return 200, {"status": "degraded" if degraded else "ok", "listener": state}

    # --- run

    async def run(self, seconds: float = 0) -> dict:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        health = await HealthServer(self.health_port, self.alive, self.ready).start() if self.health_port else None
        self.notifier.start(deliver=self.deliver)
        announcer = asyncio.ensure_future(self._announce_loop())
        started = time.monotonic()
        try:
            await asyncio.wait_for(stop.wait(), seconds or None)
        except TimeoutError:
            pass
        self.stopping = True
        log.info("listener: stopping after %.0f s (%d doorbells forwarded)", time.monotonic() - started,
                 self.forwarded, extra={"event": "shutdown_started"})
        announcer.cancel()
        try:
            await announcer
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping
            pass
        status = self.status()
        await self.notifier.aclose()
        if self._pending:
            await asyncio.wait(self._pending, timeout=5)
        try:
            await asyncio.wait_for(retire(self.layer, self.replica), 5)
        except Exception:  # noqa: BLE001 - its announcement expires by itself
            log.debug("retiring from the listener registry failed", exc_info=True)
        if health is not None:
            await health.stop()
        await self.layer.close_pools()
        return status

    async def _announce_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(announce(self.layer, self.replica, self.status()), 5)
                self._layer_answered()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reported by /readyz and the log
                self._layer_failed(exc)
            metrics.set_listener_layer_ok(bool(self.layer_ok))
            await asyncio.sleep(ANNOUNCE_INTERVAL_S)
