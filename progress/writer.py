"""The progress writer: per-target outcomes become message rows, coalesced per task.

Each flush is one transaction that
1. marks the results' targets done (only targets without a recorded result: a result is recorded exactly once,
   whichever worker ran the target and however often a flush is retried),
2. advances the task's counters and last_seq with one atomic UPDATE … RETURNING (which locks the task row, so
   concurrent flushes of one task get consecutive seq blocks),
3. inserts the ProgressMessage rows and the operations' own records (the audit entries of node operations),
4. rings the doorbell inside it (pg_notify is delivered only if, and when, the transaction commits), carrying
   the new messages when they fit its payload.

A TaskWriter keeps results queued until a transaction containing them has committed: a failed flush (database
restarted, connection cut, pg_notify refused) loses nothing and is retried with backoff; counters and seq stay
exact because nothing of a failed transaction remains. A task is flushed at most once per FLUSH_INTERVAL_S, its
first result at once, and its final message at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from kubenode import metrics, runtime

from .models import FINISHED_STATUSES, MessageType, ProgressMessage, ProgressTarget, ProgressTask, TaskStatus
from .notify import get_notifier
from .notify.base import MAX_CARRIED, Doorbell
from .selectors import message_frame

log = logging.getLogger("kubenode.progress.writer")

FLUSH_INTERVAL_S = 0.05
AUTO_STATUS = "auto"  # succeeded when no node failed, failed otherwise
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 5.0


@dataclass
class Event:
    type: str
    node: str = ""
    outcome: str = ""
    error: str = ""
    detail: dict = field(default_factory=dict)
    ok: bool | None = None  # per-node result: counts toward done/succeeded/failed
    record: Any = None  # the operation's own record of this result, stored with it (Operation.persist)


@dataclass
class Flushed:
    """What one flush did: the task's last_seq, done and total after it; finished: the task was already finished
    (nothing written) or this flush finished it."""

    seq: int = 0
    done: int = 0
    total: int = 0
    written: int = 0
    finished: bool = False
    duplicates: int = 0


def flush_events(task_id, events: list[Event], *, final_status: str | None = None, error: str = "",
                 persist: Callable[[list], None] | None = None) -> int:
    """Write `events` for one task in one transaction; returns the new last_seq."""
    return write_events(task_id, events, final_status=final_status, error=error, persist=persist).seq


def write_events(task_id, events: list[Event], *, final_status: str | None = None, error: str = "",
                 persist: Callable[[list], None] | None = None, complete_when_done: bool = False) -> Flushed:
    """Write `events` for one task in one transaction (see the module's docstring); raises on a database error,
    leaving nothing of it behind.

    complete_when_done: when this flush records the task's last result (done reaches total), the same transaction
    also writes the completion (status auto, a `complete` message), as `finish(AUTO_STATUS, COMPLETE)` would
    right after it: one transaction, one doorbell less, and no wait for the flusher."""
    if not events:
        return Flushed()
    with transaction.atomic():
        events, duplicates = _fresh(task_id, events)
        if not events:
            state = (ProgressTask.objects.filter(pk=task_id).values_list("last_seq", "done", "total", "status")
                     .first())
            if state is None:
                raise ProgressTask.DoesNotExist(f"no progress task {task_id}")
            log.info("results already recorded task=%s rows=%s: not written again", task_id, duplicates)
            return Flushed(seq=state[0], done=state[1], total=state[2], finished=state[3] in FINISHED_STATUSES,
                           duplicates=duplicates)
        d_done = sum(1 for e in events if e.ok is not None)
        d_ok = sum(1 for e in events if e.ok)
        d_failed = d_done - d_ok
        last_node = next((e.node for e in reversed(events) if e.node), "")
        auto_complete = complete_when_done and not final_status and d_done > 0
        reserved = _reserve(task_id, len(events), d_done, d_ok, d_failed, last_node, final_status, error,
                            auto_complete=auto_complete)
        if reserved is None:
            # Nothing is ever written after a task's final message (the targets marked above are rolled back).
            state = ProgressTask.objects.filter(pk=task_id).values_list("last_seq", "done", "total").first()
            transaction.set_rollback(True)
            if state is None:
                raise ProgressTask.DoesNotExist(f"no progress task {task_id}")
            if d_done:
                log.warning("progress dropped for finished task=%s rows=%s", task_id, len(events))
            return Flushed(seq=state[0], done=state[1], total=state[2], finished=True, duplicates=duplicates)
        pk, user_id, total, done, succeeded, failed, last_seq, status = reserved
        completed = auto_complete and status in FINISHED_STATUSES
        if completed:  # this flush recorded the last result: the completion comes with it (its seq was reserved)
            events = [*events, Event(type=MessageType.COMPLETE)]
            final_status = AUTO_STATUS
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
            # The final message carries exact counts and every failed node with its reason: those recorded before
            # this flush (read only when there are any), then this flush's, in seq order; one INSERT for all rows.
            final = rows[-1]
            failed_here = [{"node": r.node, "error": r.error} for r in rows[:-1]
                           if r.type == MessageType.PROGRESS and r.outcome == "failed"]
            failed_before = failed_nodes(pk) if failed - d_failed > 0 else []
            final.detail = {**final.detail, "succeeded": succeeded, "failed": failed, "total": total,
                            "failed_nodes": failed_before + failed_here}
        ProgressMessage.objects.bulk_create(rows)
        records = [e.record for e in events if e.record is not None]
        if records and persist is not None:
            persist(records)
        # the rows ride along with the doorbell when they fit its payload (the web processes then need no read)
        carry = len(rows) <= MAX_CARRIED and settings.CONFIG["progress.carry_messages"]
        carried = tuple(message_frame(row, pk) for row in rows) if carry else None
        get_notifier().ring(Doorbell(task=str(pk), user=user_id, seq=seq, replica=runtime.replica_id(),
                                     messages=carried))
    log.debug("progress flushed task=%s seq=%s rows=%s", task_id, seq, len(rows))
    return Flushed(seq=seq, done=done, total=total, written=len(rows), finished=bool(final_status),
                   duplicates=duplicates)


def _fresh(task_id, events: list[Event]) -> tuple[list[Event], int]:
    """The events without results already recorded: each result's target is marked done here, in the flush's
    transaction, and only if it was not done yet (a concurrent flush of the same target waits for the first one's
    row lock and then finds it done). Targets of tasks created without a target queue are not checked."""
    seen: set[str] = set()
    names = []
    for event in events:
        if event.ok is not None and event.node:
            names.append(event.node)
    if not names:
        return events, 0
    fresh = _mark_done(task_id, list(dict.fromkeys(names)))
    recorded: set[str] = set()
    if len(fresh) < len(set(names)):
        rest = [n for n in set(names) if n not in fresh]
        recorded = set(ProgressTarget.objects.filter(task_id=task_id, name__in=rest).values_list("name", flat=True))
    kept, duplicates = [], 0
    for event in events:
        if event.ok is not None and event.node:
            if event.node in recorded or event.node in seen:
                duplicates += 1
                continue
            seen.add(event.node)
        kept.append(event)
    return kept, duplicates


def _mark_done(task_id, names: list[str]) -> set[str]:
    meta = ProgressTarget._meta
    qn = connection.ops.quote_name
    task_field = meta.get_field("task")
    pk = ProgressTask._meta.pk
    task_value = pk.get_db_prep_value(pk.to_python(task_id), connection)
    fresh: set[str] = set()
    for i in range(0, len(names), 500):
        chunk = names[i:i + 500]
        marks = ", ".join(["%s"] * len(chunk))
        sql = (f"UPDATE {qn(meta.db_table)} SET {qn('done')} = %s WHERE {qn(task_field.column)} = %s "
               f"AND {qn('name')} IN ({marks}) AND {qn('done')} = %s RETURNING {qn('name')}")
        with connection.cursor() as cursor:
            cursor.execute(sql, [True, task_value, *chunk, False])
            fresh.update(row[0] for row in cursor.fetchall())
    return fresh


def _reserve(task_id, n: int, d_done: int, d_ok: int, d_failed: int, last_node: str, final_status: str | None,
             error: str, auto_complete: bool = False):
    """One UPDATE that locks the task row, advances counters and last_seq by this flush and returns the new values
    (pk, user_id, total, done, succeeded, failed, last_seq, status); None when the task has finished.

    auto_complete: when done reaches total with this flush, the task finishes in the same UPDATE (status auto,
    finished_at) and one more seq is reserved, for the completion message.

    It replaces a SELECT … FOR UPDATE followed by an UPDATE: one round trip less on every flush. Concurrent
    flushes of one task queue on the row lock, so each gets its own consecutive block of seq.
    """
    meta = ProgressTask._meta
    qn = connection.ops.quote_name
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    outcome = "CASE WHEN failed + %s > 0 THEN %s ELSE %s END"  # a finished task's status, from its failures
    outcome_params = [d_failed, TaskStatus.FAILED.value, TaskStatus.SUCCEEDED.value]
    sets = ["done = done + %s", "succeeded = succeeded + %s", "failed = failed + %s"]
    params: list = [d_done, d_ok, d_failed]
    if auto_complete:
        complete = "(total > 0 AND done + %s >= total)"  # SET reads the row as it was: add this flush's done
        sets += [f"last_seq = last_seq + %s + CASE WHEN {complete} THEN 1 ELSE 0 END",
                 f"status = CASE WHEN {complete} THEN {outcome} ELSE status END",
                 f"finished_at = CASE WHEN {complete} THEN %s ELSE finished_at END"]
        params += [n, d_done, d_done, *outcome_params, d_done, now]
    else:
        sets.append("last_seq = last_seq + %s")
        params.append(n)
    if last_node:
        sets.append("current_node = %s")
        params.append(last_node)
    if final_status == AUTO_STATUS:
        sets.append(f"status = {outcome}")
        params += outcome_params
    elif final_status:
        sets.append("status = %s")
        params.append(str(final_status))
    if final_status:
        sets.append("finished_at = %s")
        params.append(now)
        if error:
            sets.append("error = %s")
            params.append(error)
    pk_field = meta.pk
    params.append(pk_field.get_db_prep_value(pk_field.to_python(task_id), connection))
    params += [str(s) for s in FINISHED_STATUSES]
    finished = ", ".join(["%s"] * len(FINISHED_STATUSES))
    sql = (f"UPDATE {qn(meta.db_table)} SET {', '.join(sets)} WHERE {qn(pk_field.column)} = %s "
           f"AND status NOT IN ({finished}) RETURNING {qn(pk_field.column)}, user_id, total, done, succeeded, "
           f"failed, last_seq, status")
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

    Thread-safe: node threads call `node_result`; the flusher thread (or the caller of `finish`) writes.
    Results leave the queue only once the transaction that recorded them has committed; after a failure the next
    attempt waits RETRY_FIRST_S, doubling up to RETRY_MAX_S (`due()` says when).
    """

    def __init__(self, task_id, interval: float = FLUSH_INTERVAL_S, persist: Callable[[list], None] | None = None,
                 complete_when_done: bool = False):
        self.task_id = task_id
        self.interval = interval
        self.persist = persist
        # a flush that records the task's last result also writes its completion (see write_events)
        self.complete_when_done = complete_when_done
        self._pending: list[Event] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._last_flush: float | None = None  # never flushed: the first result goes out at once
        self._retry_at = 0.0
        self._backoff = 0.0
        self.flushes = 0  # committed flush transactions
        self.failures = 0  # failed flush attempts
        self.last = Flushed()  # what the last committed flush returned
        self.closed = False

    def node_result(self, node: str, ok: bool, error: str = "", detail: dict | None = None, record=None) -> None:
        event = Event(type=MessageType.PROGRESS, node=node, outcome="succeeded" if ok else "failed",
                      error=error, detail=detail or {}, ok=ok, record=record)
        with self._lock:
            if not self.closed:
                self._pending.append(event)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def due(self) -> bool:
        with self._lock:
            if not self._pending:
                return False
            now = time.monotonic()
            if now < self._retry_at:
                return False
            return self._last_flush is None or now - self._last_flush >= self.interval

    def flush(self) -> int:
        """Write what is queued; returns the last seq written (0: nothing queued). Raises on a database error,
        keeping the results queued."""
        with self._write_lock:
            return self._flush_pending()

    def flush_if_never_flushed(self) -> int:
        """The task's first result goes out at once, from the thread that produced it; later ones coalesce."""
        with self._write_lock:
            if self._last_flush is not None or time.monotonic() < self._retry_at:
                return 0
            return self._flush_pending()

    def flush_if_last(self) -> int:
        """Flush at once, from the thread that produced it, when the queued results complete the task as far as
        this writer knows (the task's done after its last flush plus what is queued reaches total): the last
        result and the completion go out without waiting for the flusher's interval. 0 when not flushed."""
        last = self.last
        if not last.total or last.finished or self.closed:
            return 0
        with self._lock:
            queued = sum(1 for e in self._pending if e.ok is not None)
        if not queued or last.done + queued < last.total:
            return 0
        with self._write_lock:
            if time.monotonic() < self._retry_at:
                return 0
            return self._flush_pending()

    def _flush_pending(self) -> int:
        with self._lock:
            events = list(self._pending)
        if not events:
            return 0
        result = self._write(events, complete_when_done=self.complete_when_done)
        with self._lock:
            del self._pending[:len(events)]  # results only ever append: the written ones are the first
            if result.finished and self.complete_when_done:
                self.closed = True  # the completion is written: nothing more is recorded here
        self._last_flush = time.monotonic()
        return result.seq

    def _write(self, events: list[Event], **kwargs) -> Flushed:
        try:
            result = write_events(self.task_id, events, persist=self.persist, **kwargs)
        except Exception as exc:
            self.failures += 1
            self._backoff = min(RETRY_MAX_S, self._backoff * 2 if self._backoff else RETRY_FIRST_S)
            self._retry_at = time.monotonic() + self._backoff
            metrics.flush_failed()
            if self.failures == 1 or self.failures % 10 == 0:
                log.warning("flush of task=%s failed (attempt %d, %d result(s) kept, retry in %.1fs): %s",
                            self.task_id, self.failures, len(events), self._backoff,
                            " ".join(str(exc).split())[:300] or type(exc).__name__)
            _discard_broken_connection()
            raise
        if self.failures and self._backoff:
            log.info("flush of task=%s succeeded after %d failed attempt(s)", self.task_id, self.failures)
        self._backoff, self._retry_at = 0.0, 0.0
        self.flushes += 1
        self.last = result
        return result

    def finish(self, status: str, message_type: str, *, error: str = "", detail: dict | None = None) -> int:
        """Flush queued results and the final message in one transaction; 0 when already finished here.
        Raises on a database error, keeping everything queued (call it again)."""
        with self._write_lock:
            with self._lock:
                if self.closed:
                    return 0
                events = list(self._pending)
            final = Event(type=message_type, error=error, detail=detail or {})
            result = self._write([*events, final], final_status=status, error=error)
            with self._lock:
                self.closed = True
                self._pending.clear()
            return result.seq


def _discard_broken_connection() -> None:
    """After a failed transaction, drop a connection that no longer works so the retry opens a fresh one."""
    if connection.in_atomic_block:
        return
    try:
        if connection.connection is not None and not connection.is_usable():
            connection.close()
    except Exception:  # noqa: BLE001 - closing a broken connection
        try:
            connection.close()
        except Exception:  # noqa: BLE001
            log.debug("closing a broken connection failed", exc_info=True)
