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
from django.db import connection, transaction
from django.utils import timezone

from .models import FINISHED_STATUSES, MessageType, ProgressMessage, ProgressTask, TaskStatus
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
    d_done = sum(1 for e in events if e.ok is not None)
    d_ok = sum(1 for e in events if e.ok)
    d_failed = d_done - d_ok
    last_node = next((e.node for e in reversed(events) if e.node), "")
    with transaction.atomic():
        reserved = _reserve(task_id, len(events), d_done, d_ok, d_failed, last_node, final_status, error)
        if reserved is None:
            # Nothing is ever written after a task's final message.
            last_seq = ProgressTask.objects.filter(pk=task_id).values_list("last_seq", flat=True).first()
            if last_seq is None:
                raise ProgressTask.DoesNotExist(f"no progress task {task_id}")
            log.warning("progress dropped for finished task=%s rows=%s", task_id, len(events))
            return last_seq
        pk, user_id, total, done, succeeded, failed, last_seq = reserved
        # the counters and seq this flush starts from: the row as it was, locked by the UPDATE above
        done, succeeded, failed, seq = done - d_done, succeeded - d_ok, failed - d_failed, last_seq - len(events)
        rows = []
        for event in events:
            seq += 1
            if event.ok is not None:
                done += 1
                succeeded += 1 if event.ok else 0
                failed += 0 if event.ok else 1
            rows.append(ProgressMessage(task_id=pk, seq=seq, type=event.type, node=event.node,
                                        outcome=event.outcome, error=event.error, detail=event.detail,
                                        total=total, done=done, succeeded=succeeded, failed=failed))
        if final_status:
            # The final message carries exact counts and every failed node with its reason.
            final = rows.pop()
            ProgressMessage.objects.bulk_create(rows)
            final.detail = {**final.detail, "succeeded": succeeded, "failed": failed, "total": total,
                            "failed_nodes": failed_nodes(pk)}
            rows.append(final)
            final.save(force_insert=True)
        else:
            ProgressMessage.objects.bulk_create(rows)
        get_notifier().ring(Doorbell(task=str(pk), user=user_id, seq=seq,
                                     replica=str(getattr(settings, "REPLICA_ID", ""))))
    log.debug("progress flushed task=%s seq=%s rows=%s", task_id, seq, len(rows))
    return seq


def _reserve(task_id, n: int, d_done: int, d_ok: int, d_failed: int, last_node: str, final_status: str | None,
             error: str):
    """One UPDATE that locks the task row, advances counters and last_seq by this flush and returns the new values
    (pk, user_id, total, done, succeeded, failed, last_seq); None when the task has finished.

    It replaces a SELECT … FOR UPDATE followed by an UPDATE: one round trip less on every flush. Concurrent
    flushes of one task queue on the row lock, so each gets its own consecutive block of seq.
    """
    meta = ProgressTask._meta
    qn = connection.ops.quote_name
    sets = ["done = done + %s", "succeeded = succeeded + %s", "failed = failed + %s", "last_seq = last_seq + %s"]
    params: list = [d_done, d_ok, d_failed, n]
    if last_node:
        sets.append("current_node = %s")
        params.append(last_node)
    if final_status == AUTO_STATUS:
        sets.append("status = CASE WHEN failed + %s > 0 THEN %s ELSE %s END")
        params += [d_failed, TaskStatus.FAILED.value, TaskStatus.SUCCEEDED.value]
    elif final_status:
        sets.append("status = %s")
        params.append(str(final_status))
    if final_status:
        sets.append("finished_at = %s")
        params.append(connection.ops.adapt_datetimefield_value(timezone.now()))
        if error:
            sets.append("error = %s")
            params.append(error)
    pk_field = meta.pk
    params.append(pk_field.get_db_prep_value(pk_field.to_python(task_id), connection))
    params += [str(s) for s in FINISHED_STATUSES]
    finished = ", ".join(["%s"] * len(FINISHED_STATUSES))
    sql = (f"UPDATE {qn(meta.db_table)} SET {', '.join(sets)} WHERE {qn(pk_field.column)} = %s "
           f"AND status NOT IN ({finished}) RETURNING {qn(pk_field.column)}, user_id, total, done, succeeded, "
           f"failed, last_seq")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    return (pk_field.to_python(row[0]), *row[1:])


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
            return self._flush_pending()

    def flush_if_never_flushed(self) -> int:
        """The task's first result goes out at once, from the thread that produced it; later ones coalesce."""
        with self._write_lock:
            return self._flush_pending() if self._last_flush is None else 0

    def _flush_pending(self) -> int:
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
