"""The in-process channel layer, with its expiry sweep run at most once a second.

Channels' InMemoryChannelLayer sweeps every channel and every group member on each receive, so one doorbell to a
group of N connections costs O(N²); with hundreds of WebSocket clients on one replica that sweep dominates delivery.
Expiry is measured in seconds (message expiry 60 s, group expiry a day), so sweeping once a second changes nothing.
"""

from __future__ import annotations

import time

from channels.layers import InMemoryChannelLayer

SWEEP_INTERVAL_S = 1.0


class InMemoryLayer(InMemoryChannelLayer):
    _last_sweep = 0.0

    def _clean_expired(self):
        now = time.monotonic()
        if now - self._last_sweep < SWEEP_INTERVAL_S:
            return
        self._last_sweep = now
        super()._clean_expired()
