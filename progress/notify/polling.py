"""Polling: no doorbell is rung; every replica reads the task table every `progress.poll_interval` ms."""

from __future__ import annotations

from .base import Doorbell
from .notifier import Notifier


class PollingNotifier(Notifier):
    type = "polling"

    def ring(self, doorbell: Doorbell) -> None:
        # A process with no poller of its own (a command following its batch) still hears its own rows at once.
        self.forward_locally_unless_listening(doorbell)
