"""The progress writer: per-node outcomes become message rows, coalesced per task.

Each flush is one transaction that inserts ProgressMessage rows with consecutive seq, advances
the task's counters and last_seq with atomic UPDATEs, and rings the doorbell inside it. A task is
flushed at most once per FLUSH_INTERVAL_S, and at once for its final message.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import FINISHED_STATUSES, MessageType, ProgressMessage, ProgressTask
from .notify import get_notifier
from .notify.base import Doorbell

log = logging.getLogger("kubenode.progress.writer")

FLUSH_INTERVAL_S = 0.05
AUTO_STATUS = "auto"  # succeeded when no node failed, failed otherwise


@dataclass
class Event:
    type: str
    node: str = ""
    outcome: str = ""
    error: str = ""
    detail: dict = field(default_factory=dict)
    ok: bool | None = None  # per-node result: counts toward done/succeeded/failed


def flush_events(task_id, events: list[Event], *, final_status: str | None = None, error: str = "") -> int:
    """Write `events` for one task in one transaction; returns the new last_seq."""
    if not events:
        return 0
    with transaction.atomic():
        task = ProgressTask.objects.select_for_update().only(
            "id", "user_id", "status", "total", "done", "succeeded", "failed", "last_seq").get(pk=task_id)
        if task.status in FINISHED_STATUSES:
            # Nothing is ever written after a task's final message.
            log.warning("progress dropped for finished task=%s (%s) rows=%s", task_id, task.status, len(events))
            return task.last_seq
        done, succeeded, failed, seq = task.done, task.succeeded, task.failed, task.last_seq
        rows = []
        last_node = ""
        for event in events:
            seq += 1
            if event.ok is not None:
                done += 1
                succeeded += 1 if event.ok else 0
                failed += 0 if event.ok else 1
            if event.node:
                last_node = event.node
            rows.append(ProgressMessage(task_id=task.pk, seq=seq, type=event.type, node=event.node,
                                        outcome=event.outcome, error=event.error, detail=event.detail,
                                        total=task.total, done=done, succeeded=succeeded, failed=failed))
        if final_status:
            # The final message carries exact counts and every failed node with its reason.
            final = rows.pop()
            ProgressMessage.objects.bulk_create(rows)
            final.detail = {**final.detail, "succeeded": succeeded, "failed": failed, "total": task.total,
                            "failed_nodes": failed_nodes(task.pk)}
            rows.append(final)
            final.save(force_insert=True)
        else:
            ProgressMessage.objects.bulk_create(rows)
        d_done, d_ok, d_failed = done - task.done, succeeded - task.succeeded, failed - task.failed
        changes = {"done": F("done") + d_done, "succeeded": F("succeeded") + d_ok,
                   "failed": F("failed") + d_failed, "last_seq": F("last_seq") + len(rows)}
        if last_node:
            changes["current_node"] = last_node
        if final_status == AUTO_STATUS:
            final_status = "failed" if failed else "succeeded"
        if final_status:
            changes.update(status=final_status, finished_at=timezone.now())
            if error:
                changes["error"] = error
        ProgressTask.objects.filter(pk=task.pk).update(**changes)
        get_notifier().ring(Doorbell(task=str(task.pk), user=task.user_id, seq=seq,
                                     replica=str(getattr(settings, "REPLICA_ID", ""))))
    log.debug("progress flushed task=%s seq=%s rows=%s", task_id, seq, len(rows))
    return seq


def failed_nodes(task_id) -> list[dict]:
    """Every failed node of a task with its reason, in the order they finished."""
    rows = (ProgressMessage.objects.filter(task_id=task_id, type=MessageType.PROGRESS, outcome="failed")
            .order_by("seq").values_list("node", "error"))
    return [{"node": node, "error": error} for node, error in rows]


class TaskWriter:
    """Buffers one task's outcomes and flushes them at most every FLUSH_INTERVAL_S.

    Thread-safe: worker threads call `node_result`; the flusher thread (or the caller of
    `finish`) writes. `finish` flushes what is pending plus the final message at once.
    """

    def __init__(self, task_id, interval: float = FLUSH_INTERVAL_S):
        self.task_id = task_id
        self.interval = interval
        self._pending: list[Event] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._last_flush: float | None = None  # never flushed: the first result goes out at once
        self.flushes = 0

    closed = False

    def node_result(self, node: str, ok: bool, error: str = "", detail: dict | None = None) -> None:
        event = Event(type=MessageType.PROGRESS, node=node, outcome="succeeded" if ok else "failed",
                      error=error, detail=detail or {}, ok=ok)
        with self._lock:
            if not self.closed:
                self._pending.append(event)

    def due(self) -> bool:
        with self._lock:
            if not self._pending:
                return False
            return self._last_flush is None or time.monotonic() - self._last_flush >= self.interval

    def flush(self) -> int:
        with self._write_lock:
            with self._lock:
                events, self._pending = self._pending, []
            if not events:
                return 0
            seq = flush_events(self.task_id, events)
            self._last_flush = time.monotonic()
            self.flushes += 1
            return seq

    def finish(self, status: str, message_type: str, *, error: str = "", detail: dict | None = None) -> int:
        """Flush pending results and the final message in one transaction."""
        with self._write_lock:
            with self._lock:
                if self.closed:
                    return 0
                self.closed = True
                events, self._pending = self._pending, []
            events.append(Event(type=message_type, error=error, detail=detail or {}))
            seq = flush_events(self.task_id, events, final_status=status, error=error)
            self.flushes += 1
            return seq
