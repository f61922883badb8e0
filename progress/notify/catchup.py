"""Repair from the table: turn tasks whose last_seq moved into doorbells.

Used by the poller (the `polling` backend, and the slow safety poll of the realtime ones) and after every
(re)connect of a listener. A doorbell only says "read past your cursor": a repeated one costs a read, never a
duplicate, because every consumer keeps a per-task cursor.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils import timezone

from ..models import ACTIVE_STATUSES, ProgressTask
from .base import Doorbell

FIRST_WINDOW = dt.timedelta(minutes=5)
OVERLAP = dt.timedelta(seconds=30)
FORGET_AFTER = 10_000


class TableWatch:
    """Remembers the last seq announced per task and reports the tasks that moved since."""

    def __init__(self, replica: str = "poll"):
        self.replica = replica
        self.known: dict[str, int] = {}
        self._last_scan: dt.datetime | None = None

    def seen(self, doorbell: Doorbell) -> None:
        """A doorbell that arrived by the realtime path: no need to announce it again."""
        if doorbell.seq > self.known.get(doorbell.task, 0):
            self.known[doorbell.task] = doorbell.seq

    def changes(self) -> list[Doorbell]:
        """Doorbells for every active or recently finished task whose last_seq is past what was announced."""
        now = timezone.now()
        since = (self._last_scan - OVERLAP) if self._last_scan else now - FIRST_WINDOW
        rows = (ProgressTask.objects.filter(Q(status__in=ACTIVE_STATUSES) | Q(finished_at__gte=since))
                .filter(last_seq__gt=0).values_list("id", "user_id", "last_seq"))
        doorbells = []
        for task_id, user_id, last_seq in rows:
            key = str(task_id)
            if last_seq > self.known.get(key, 0):
                self.known[key] = last_seq
                doorbells.append(Doorbell(task=key, user=user_id, seq=last_seq, replica=self.replica, rung_at=0.0))
        self._last_scan = now
        if len(self.known) > FORGET_AFTER:
            self.known = dict(list(self.known.items())[-FORGET_AFTER // 2:])
        return doorbells
