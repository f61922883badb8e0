"""The memory notifier: one process; after commit the doorbell goes straight to the local Channels group."""

from __future__ import annotations

from django.db import transaction

from .base import Doorbell
from .local import forward, remember_serving_loop, serving_loop
from .notifier import Notifier, safe_forward

__all__ = ["MemoryNotifier", "forward", "remember_serving_loop", "serving_loop"]


class MemoryNotifier(Notifier):
    type = "memory"

    def ring(self, doorbell: Doorbell) -> None:
        transaction.on_commit(lambda: safe_forward(doorbell))
