"""The in-process channel layer, with its expiry sweep run at most once a second and a group send without a task per
member.

Channels' InMemoryChannelLayer sweeps every channel and every group member on each receive, so one doorbell to a
group of N connections costs O(N²); with hundreds of WebSocket clients on one replica that sweep dominates delivery.
Expiry is measured in seconds (message expiry 60 s, group expiry a day), so sweeping once a second changes nothing.
Its group_send also starts one asyncio task per member (each deep-copying the message) and waits for them all; a
doorbell to a user with 500 connections was 500 tasks. Here each member's queue gets the message directly (a copy
of the flat dict; nested messages are still deep-copied), in one pass.
"""

from __future__ import annotations

import asyncio
import time
from copy import deepcopy

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

    async def group_send(self, group, message):
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        members = self.groups.get(group)
        if not members:
            return
        flat = not any(isinstance(value, (dict, list, set, tuple)) for value in message.values())
        expires = time.time() + self.expiry
        for channel in list(members):
            queue = self.channels.setdefault(channel, asyncio.Queue(maxsize=self.get_capacity(channel)))
            try:
                queue.put_nowait((expires, dict(message) if flat else deepcopy(message)))
            except asyncio.QueueFull:
                pass  # as Channels does for a full member: the table and the cursors repair it
