"""The doorbell listener: one loop for every backend, run inside each daphne process or by `progress_listen`.

It receives doorbells from a source (PostgreSQL LISTEN, or Redis through channels-redis), hands each to
`deliver` (the local Channels group of the user), and repairs gaps from the table: after every (re)connect,
by a slow safety poll, and — while the source is down — by polling at the normal poll interval.

States, all reported by `status()`:
- connecting: not yet connected; effective type = requested (nothing verified yet).
- verified:   connected, and a self-probe sent through the backend came back through this very listener.
- fallback:   the source failed; effective type = polling; it keeps retrying with backoff and switches back,
              saying so, when the source works again.
An idle connection is probed every `progress.listener_probe_interval` ms: no echo within PROBE_TIMEOUT_S means
a silently dead connection, which is closed and reconnected.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

from kubenode import metrics

from . import diagnostics
from .base import Doorbell, probe_payload, probe_token
from .catchup import TableWatch
from .dbthread import DbThread

log = logging.getLogger("kubenode.progress.listener")

CONNECT_TIMEOUT_S = 10.0
IDLE_PROBE_S = 15.0
# The backends by the names kube-node-manager's runbooks grep for ("PostgreSQL listener connected", ...).
BACKEND_NAMES = {"postgres": "PostgreSQL", "redis": "Redis"}
PROBE_TIMEOUT_S = 5.0
BACKOFF_MAX_S = 30.0


class SourceError(Exception):
    """The doorbell source stopped working (the message says why)."""


class Listener:
    def __init__(self, requested: str, source, deliver: Callable[[Doorbell], None], *, replica: str,
                 poll_interval_s: float, safety_interval_s: float, idle_probe_s: float = IDLE_PROBE_S):
        self.requested = requested
        self.source = source  # None: polling only (the `polling` and `memory` types)
        self.deliver = deliver
        self.replica = replica
        self.poll_interval_s = poll_interval_s
        self.safety_interval_s = safety_interval_s
        self.idle_probe_s = idle_probe_s
        self.watch = TableWatch(replica=f"poll:{replica}")
        self.reader = DbThread("kubenode-listener-poll")
        self.connected = False
        self.verified = False
        self.fallback = False
        self.why = ""
        self.round_trip_ms: float | None = None
        self.reconnects = 0
        self.doorbells = 0
        self.started = False
        self._tasks: list[asyncio.Task] = []
        self._poll_now = asyncio.Event()
        self._probes: dict[str, asyncio.Future] = {}
        self._failures = 0

    # --- state

    @property
    def effective(self) -> str:
        if self.source is None:
            return self.requested
        return "polling" if self.fallback else self.requested

    def status(self) -> dict:
        healthy = self.source is None or (self.connected and self.verified)
        return {"requested": self.requested, "effective": self.effective, "healthy": healthy,
                "fallback": self.fallback, "why": self.why, "verified": self.verified,
                "listener": self._listener_state(),
                "round_trip_ms": self.round_trip_ms, "reconnects": self.reconnects, "replica": self.replica,
                "poll_interval_ms": int(self.current_poll_interval() * 1000)}

    def _listener_state(self) -> str:
        if self.source is not None:
            return "connected" if self.connected else "disconnected"
        return "polling the table" if self.requested == "polling" else "not needed (one process)"

    @property
    def backend_name(self) -> str:
        return BACKEND_NAMES.get(self.requested, self.requested)

    def current_poll_interval(self) -> float:
        if self.source is None and self.requested == "polling":
            return self.poll_interval_s
        return self.poll_interval_s if self.fallback else self.safety_interval_s

    # --- lifecycle

    def start(self) -> None:
        """Start on the running loop (idempotent)."""
        if self.started:
            return
        self.started = True
        self._poll_now = asyncio.Event()
        self._tasks = [asyncio.ensure_future(self._poll_loop())]
        if self.source is not None:
            self._tasks.append(asyncio.ensure_future(self._source_loop()))
        if self.source is not None:
            how = "LISTEN/NOTIFY" if self.requested == "postgres" else "Pub/Sub"
            what = (f"Using {self.backend_name} {how} for real-time progress updates; "
                    f"listener connecting, not verified yet")
        elif self.requested == "polling":
            what = (f"Using polling mode for progress updates (configured mode): polling the task table every "
                    f"{self.current_poll_interval() * 1000:.0f} ms")
        else:
            what = f"in-process delivery, safety poll every {self.current_poll_interval() * 1000:.0f} ms"
        log.info("notifier: requested %s, effective %s, %s (replica %s)", self.requested, self.effective, what,
                 self.replica)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping
                pass
        self._tasks = []
        if self.source is not None:
            await self.source.close()
        self._set_connected(False)
        self.started = False
        log.info("notifier: listener stopped (replica %s)", self.replica)

    # --- the source loop

    async def _source_loop(self) -> None:
        backoff = 1.0
        while True:
            try:
                await asyncio.wait_for(self.source.connect(), CONNECT_TIMEOUT_S + 5)
                self._set_connected(True)
                self._poll_now.set()  # catch up from the table after every (re)connect
                receiver = asyncio.ensure_future(self._receive_loop())
                try:
                    rtt = await self._probe()
                    self._verified(rtt)
                    backoff = 1.0
                    await self._idle_prober(receiver)
                finally:
                    receiver.cancel()
                    try:
                        await receiver
                    except (asyncio.CancelledError, Exception):  # noqa: BLE001 - its error was raised below
                        pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure means: fall back, retry
                self._failed(exc)
            finally:
                self._set_connected(False)
                try:
                    await self.source.close()
                except Exception:  # noqa: BLE001
                    log.debug("closing the listener connection failed", exc_info=True)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)
            self.reconnects += 1
            metrics.listener_reconnected()

    async def _receive_loop(self) -> None:
        while True:
            for payload in await self.source.receive(1.0):
                self._on_payload(payload)

    async def _idle_prober(self, receiver: asyncio.Task) -> None:
        """Wait on the receiver; when idle, probe; a probe without echo is a dead connection."""
        while True:
            before = self.doorbells
            done, _ = await asyncio.wait({receiver}, timeout=self.idle_probe_s)
            if done:
                receiver.result()  # raises the receiver's error
                raise SourceError("the listener stopped receiving")
            if self.doorbells == before:
                self.round_trip_ms = round(await self._probe(), 2)

    async def _probe(self) -> float:
        token = uuid.uuid4().hex
        future = asyncio.get_running_loop().create_future()
        self._probes[token] = future
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self.source.send(probe_payload(token, self.replica)), PROBE_TIMEOUT_S)
            await asyncio.wait_for(future, PROBE_TIMEOUT_S)
        except TimeoutError:
            raise SourceError(f"self-probe not answered within {PROBE_TIMEOUT_S:.0f} s (dead connection?)") from None
        finally:
            self._probes.pop(token, None)
        return (time.perf_counter() - started) * 1000

    def _on_payload(self, payload: str) -> None:
        token = probe_token(payload)
        if token is not None:
            future = self._probes.get(token)
            if future is not None and not future.done():
                future.set_result(True)
            return
        try:
            doorbell = Doorbell.parse(payload)
        except (ValueError, KeyError, TypeError):
            log.warning("notifier: ignored a malformed doorbell payload (%d bytes)", len(payload))
            return
        self.doorbells += 1
        metrics.doorbell_received(self.requested)
        log.debug("doorbell received task=%s seq=%s from replica=%s on replica=%s", doorbell.task, doorbell.seq,
                  doorbell.replica, self.replica)
        self.watch.seen(doorbell)
        self._deliver(doorbell)

    def _deliver(self, doorbell: Doorbell) -> None:
        try:
            self.deliver(doorbell)
        except Exception:  # noqa: BLE001 - the table repairs a lost doorbell
            log.exception("doorbell delivery failed task=%s seq=%s", doorbell.task, doorbell.seq)

    # --- the poll loop (polling type, fallback, safety poll, catch-up)

    async def _poll_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._poll_now.wait(), self.current_poll_interval())
            except TimeoutError:
                pass
            self._poll_now.clear()
            try:
                doorbells = await self.reader.run(self.watch.changes)
            except Exception as exc:  # noqa: BLE001 - the database may be down; keep polling
                log.warning("notifier: reading progress from the table failed: %s", diagnostics.error_text(exc))
                await asyncio.sleep(min(self.current_poll_interval(), 5.0))
                continue
            for doorbell in doorbells:
                self._deliver(doorbell)

    # --- transitions

    def _set_connected(self, connected: bool) -> None:
        self.connected = connected
        if not connected:
            self.verified = False
        metrics.set_listener_connected(connected)

    def _verified(self, rtt_ms: float) -> None:
        """Recovery and the first verification are INFO: nothing needs anyone's attention."""
        self.round_trip_ms = round(rtt_ms, 2)
        self.verified = True
        recovered = self.fallback
        self.fallback, self.why, self._failures = False, "", 0
        metrics.set_fallback_active(False)
        if recovered:
            log.info("notifier: %s recovered: switching back from polling to %s: %s listener connected and verified "
                     "successfully (round trip %.1f ms)", self.requested, self.requested, self.backend_name, rtt_ms)
        else:
            log.info("notifier: requested %s, effective %s, verified: a self-probe went through this replica's "
                     "listener in %.1f ms (%s listener connected, %s notifier verified successfully)",
                     self.requested, self.requested, rtt_ms, self.backend_name, self.backend_name)

    def _failed(self, exc: BaseException) -> None:
        """The listener cannot work: ERROR with the diagnostics block (alerts key on it); the fall-back itself is a
        WARNING line of its own; later attempts are repeated at ERROR now and then, INFO in between."""
        text = diagnostics.error_text(exc)
        first = not self.fallback
        self.fallback, self.why = True, text
        self._failures += 1
        metrics.set_fallback_active(True)
        self._poll_now.set()
        if first:
            log.error("notifier: the %s listener is not working (cannot connect, or its self-probe did not come "
                      "back): %s\n%s", self.backend_name, text, diagnostics.block(self.requested, text))
            log.warning("notifier: requested %s, effective polling (fallback): %s notifier failed, falling back to "
                        "polling every %.0f ms and retrying %s: %s", self.requested, self.backend_name,
                        self.poll_interval_s * 1000, self.requested, text)
        elif self._failures in (2, 5) or self._failures % 20 == 0:
            log.error("notifier: %s still failing (attempt %d), still polling: %s", self.requested,
                      self._failures, text)
        else:
            log.info("notifier: %s reconnect attempt %d failed: %s", self.requested, self._failures, text)
