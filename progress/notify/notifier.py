"""What every notifier does besides ringing: run this process's listener and tell the truth about it.

`ring(doorbell)` is called by the writer inside its transaction (backend-specific). `start()` runs the listener on
the serving event loop (daphne calls it when it starts serving; `progress_listen` on its own loop). `status()` is
what /readyz, the admin and `notifier_check` show.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from django.conf import settings
from django.db import transaction

from kubenode import runtime

from .base import Doorbell
from .listener import Listener
from .local import forward

log = logging.getLogger("kubenode.progress.notify")


class Notifier:
    type = "memory"

    def __init__(self, replica: str | None = None):
        self.replica = str(replica or runtime.replica_id())
        self.listener: Listener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    # --- backend-specific

    def make_source(self):
        """The doorbell source the listener reads (None: the table is polled)."""
        return None

    def ring(self, doorbell: Doorbell) -> None:
        raise NotImplementedError

    # --- shared

    def forward_locally_unless_listening(self, doorbell: Doorbell) -> None:
        """After commit, hand the doorbell to this process's own clients when no connected listener will."""
        listener = self.listener
        if listener is not None and listener.connected:
            return
        transaction.on_commit(lambda: safe_forward(doorbell))

    def start(self, deliver=None) -> Listener:
        """Start this process's listener on the running event loop (idempotent)."""
        with self._lock:
            if self.listener is None:
                config = settings.CONFIG
                self.listener = Listener(
                    self.type, self.make_source(), deliver or safe_forward, replica=self.replica,
                    poll_interval_s=config["progress.poll_interval"] / 1000,
                    safety_interval_s=config["progress.safety_poll_interval"] / 1000,
                    idle_probe_s=config["progress.listener_probe_interval"] / 1000)
                self._loop = asyncio.get_running_loop()
        self.listener.start()
        return self.listener

    def status(self) -> dict:
        if self.listener is not None:
            return self.listener.status()
        return {"requested": self.type, "effective": self.type, "healthy": None, "fallback": False, "why": "",
                "verified": False, "listener": "not running in this process", "round_trip_ms": None,
                "reconnects": 0, "replica": self.replica}

    def close(self, timeout: float = 5.0) -> None:
        """Stop the listener (from any thread)."""
        listener, loop = self.listener, self._loop
        if listener is None or loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(listener.stop())
            return
        if loop.is_running():
            future = asyncio.run_coroutine_threadsafe(listener.stop(), loop)
            try:
                future.result(timeout)
            except Exception:  # noqa: BLE001 - shutting down
                log.debug("stopping the listener failed", exc_info=True)

    async def aclose(self) -> None:
        if self.listener is not None:
            await self.listener.stop()


def safe_forward(doorbell: Doorbell) -> None:
    try:
        forward(doorbell)
    except Exception:  # noqa: BLE001 - a lost doorbell is repaired from the table
        log.exception("doorbell forward failed task=%s seq=%s", doorbell.task, doorbell.seq)
