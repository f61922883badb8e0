"""The task queue, in the database: workers claim targets of tasks, hold a lease, hand work back, take over.

- A queued task has one ProgressTarget per node. A worker claims a few targets at a time (`claim`), under the
  task's row lock, so claims, the writer's flushes and the final message of a task never interleave.
- Every worker renews its lease (ProgressWorker.heartbeat_at). Targets claimed by a worker whose lease is older
  than `worker.lease` and that have no recorded result are claimable again: another worker takes them over.
- On SIGTERM a worker gives back what it has not finished (`hand_back`): the task returns to `pending` when no
  other worker holds any of it, keeping every recorded result; its seq continues where it stopped.
- A "task queued" doorbell wakes idle workers (`ring_queued`): pg_notify on PostgreSQL (inside the transaction
  that queues the task, so it arrives only once the task is committed), a Redis publish after commit with the
  Redis notifier, and always the in-process wake-up for workers inside this process. Workers also poll slowly.

Status: `pending` = queued, nobody works on it; `running` = a live worker holds some of it (or held it last and
its lease has not expired yet); then one final message and a finished status, written once.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from kubenode import metrics

from .models import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    MessageType,
    ProgressTarget,
    ProgressTask,
    ProgressWorker,
    TaskStatus,
)
from .wake import TASK_CHANNEL, backend, publish_redis
from .writer import AUTO_STATUS, Event, write_events

log = logging.getLogger("kubenode.progress.queue")

TARGET_BATCH = 1000


def lease_seconds() -> float:
    return float(settings.CONFIG["worker.lease"])


def _cutoff(now=None):
    return (now or timezone.now()) - timedelta(seconds=lease_seconds())


def live_workers(now=None) -> list[str]:
    """Names of the workers whose lease is current."""
    return list(ProgressWorker.objects.filter(heartbeat_at__gte=_cutoff(now), stopped_at__isnull=True)
                .values_list("name", flat=True))


# --- the "task queued" doorbell -------------------------------------------------------------------------------

_local_wakers: list[Callable[[str, str], None]] = []
_local_lock = threading.Lock()


def add_local_waker(callback: Callable[[str, str], None]) -> None:
    """Call `callback(kind, task_id)` after a task is queued (or cancelled) by this process."""
    with _local_lock:
        _local_wakers.append(callback)


def remove_local_waker(callback: Callable[[str, str], None]) -> None:
    with _local_lock:
        if callback in _local_wakers:
            _local_wakers.remove(callback)


def _wake_local(kind: str, task_id: str) -> None:
    with _local_lock:
        wakers = list(_local_wakers)
    for waker in wakers:
        try:
            waker(kind, task_id)
        except Exception:  # noqa: BLE001 - a wake-up is a hint; the poll repairs a lost one
            log.debug("local wake-up failed", exc_info=True)


def queued_payload(kind: str, task_id) -> str:
    return json.dumps({"k": kind, "t": str(task_id)}, separators=(",", ":"))


def ring_queued(task_id, kind: str = "queued") -> None:
    """Wake the workers: call inside the transaction that queued (or cancelled) the task."""
    task_id = str(task_id)
    kind_of_bell = backend()
    if kind_of_bell == "postgres":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [TASK_CHANNEL, queued_payload(kind, task_id)])
    elif kind_of_bell == "redis":
        transaction.on_commit(lambda: publish_redis(queued_payload(kind, task_id)))
    transaction.on_commit(lambda: _wake_local(kind, task_id))


# --- queueing ---------------------------------------------------------------------------------------------------

def enqueue(task: ProgressTask, targets: list[str]) -> None:
    """Queue `targets` of `task` (one ProgressTarget each) and ring the doorbell, in the caller's transaction."""
    with transaction.atomic():
        ProgressTarget.objects.bulk_create(
            [ProgressTarget(task_id=task.pk, position=i, name=name) for i, name in enumerate(targets)],
            batch_size=TARGET_BATCH)
        ring_queued(task.pk)


def is_queued(task_id) -> bool:
    return ProgressTarget.objects.filter(task_id=task_id).exists()


# --- leases -----------------------------------------------------------------------------------------------------

def register_worker(name: str, role: str, concurrency: int) -> None:
    now = timezone.now()
    ProgressWorker.objects.update_or_create(name=name, defaults={
        "role": role, "host": socket.gethostname()[:253], "pid": os.getpid(), "concurrency": concurrency,
        "started_at": now, "heartbeat_at": now, "stopped_at": None})


def renew_lease(name: str, task_ids, role: str = "worker", concurrency: int = 0) -> bool:
    """Renew this worker's lease (and the heartbeat of the tasks it holds); False when it had lapsed (another
    worker may have taken its targets over): the worker is registered again and should drop what it buffered."""
    now = timezone.now()
    renewed = ProgressWorker.objects.filter(name=name, heartbeat_at__gte=_cutoff(now),
                                            stopped_at__isnull=True).update(heartbeat_at=now)
    if task_ids:
        ProgressTask.objects.filter(pk__in=list(task_ids), status__in=ACTIVE_STATUSES).update(heartbeat_at=now)
    if not renewed:
        register_worker(name, role, concurrency)
    return bool(renewed)


def stop_worker(name: str) -> None:
    ProgressWorker.objects.filter(name=name).update(stopped_at=timezone.now())


# --- claiming ---------------------------------------------------------------------------------------------------

def _claimable(task_ref, live: list[str]):
    return ProgressTarget.objects.filter(task=task_ref, done=False).exclude(worker__in=live)


def claimable_tasks(limit: int = 50, only=None) -> list[str]:
    """Active tasks (oldest first) with targets no live worker holds and no result recorded."""
    live = live_workers()
    qs = (ProgressTask.objects.filter(status__in=ACTIVE_STATUSES, cancel_requested=False)
          .filter(Exists(_claimable(OuterRef("pk"), live))))
    if only is not None:
        qs = qs.filter(pk__in=list(only))
    return [str(pk) for pk in qs.order_by("created_at").values_list("pk", flat=True)[:limit]]


def claim(task_id, worker: str, n: int) -> list[str] | None:
    """Claim up to `n` targets of the task for `worker`, in queue order; None when the task is no longer active or
    its cancel was requested. Targets of dead workers are taken over (and counted)."""
    now = timezone.now()
    with transaction.atomic():
        task = (ProgressTask.objects.select_for_update().filter(pk=task_id)
                .values("status", "cancel_requested").first())
        if task is None or task["status"] not in ACTIVE_STATUSES or task["cancel_requested"]:
            return None
        live = live_workers(now)
        rows = list(_claimable(task_id, live).order_by("position").values_list("pk", "name", "worker")[:max(1, n)])
        if not rows:
            return []
        ProgressTarget.objects.filter(pk__in=[r[0] for r in rows]).update(worker=worker, claimed_at=now)
        ProgressTask.objects.filter(pk=task_id).update(
            status=TaskStatus.RUNNING, owner=worker, heartbeat_at=now, started_at=Coalesce(F("started_at"), Value(now)))
    taken = [r for r in rows if r[2] and r[2] != worker]
    if taken:
        dead = sorted({r[2] for r in taken})
        log.warning("task=%s: %d node(s) of %s (lease expired, no result recorded) taken over by %s", task_id,
                    len(taken), ", ".join(dead), worker)
        metrics.targets_taken_over(len(taken))
    metrics.targets_claimed(len(rows))
    return [r[1] for r in rows]


def release(task_id, worker: str, names=None) -> int:
    """Give back targets `worker` claimed and has no result for (all of them when `names` is None)."""
    qs = ProgressTarget.objects.filter(task_id=task_id, worker=worker, done=False)
    if names is not None:
        names = list(names)
        if not names:
            return 0
        qs = qs.filter(name__in=names)
    with transaction.atomic():
        ProgressTask.objects.select_for_update().filter(pk=task_id).values_list("pk").first()
        count = qs.update(worker="", claimed_at=None)
    if count:
        metrics.targets_handed_back(count)
    return count


def live_claims(task_id, live: list[str] | None = None) -> int:
    live = live_workers() if live is None else live
    return ProgressTarget.objects.filter(task_id=task_id, done=False, worker__in=live).count()


def hand_back(task_id, worker: str, reason: str = "") -> bool:
    """Give back everything `worker` holds of the task; when no other live worker holds any of it the task
    is `pending` again (queued, results kept) and the doorbell rings. True when it went back to pending."""
    with transaction.atomic():
        task = ProgressTask.objects.select_for_update().filter(pk=task_id).values("status").first()
        if task is None:
            return False
        count = ProgressTarget.objects.filter(task_id=task_id, worker=worker, done=False).update(
            worker="", claimed_at=None)
        if count:
            metrics.targets_handed_back(count)
        if task["status"] not in ACTIVE_STATUSES:
            return False
        live = [w for w in live_workers() if w != worker]
        if live_claims(task_id, live):
            return False
        if not ProgressTarget.objects.filter(task_id=task_id, done=False).exists():
            return False  # every result is recorded: the final message is due, not a requeue
        ProgressTask.objects.filter(pk=task_id).update(status=TaskStatus.PENDING, owner="")
        ring_queued(task_id)
    log.info("task=%s handed back to the queue by %s%s (%d node(s) not started or cut short)", task_id, worker,
             f": {reason}" if reason else "", count)
    return True


def task_flags(task_ids) -> dict[str, dict]:
    """{task id: {"cancel": bool, "finished": bool}} for the given tasks (missing ones count as finished)."""
    ids = [str(t) for t in task_ids]
    found = {str(pk): {"cancel": cancel, "finished": status in FINISHED_STATUSES}
             for pk, cancel, status in ProgressTask.objects.filter(pk__in=ids)
             .values_list("pk", "cancel_requested", "status")}
    return {t: found.get(t, {"cancel": False, "finished": True}) for t in ids}


# --- final messages ---------------------------------------------------------------------------------------------

def finish_if_complete(task_id) -> bool:
    """Write the completion of a task whose every target has its result (a worker died right before writing it)."""
    with transaction.atomic():
        task = (ProgressTask.objects.select_for_update().filter(pk=task_id)
                .values("status", "done", "total").first())
        if task is None or task["status"] in FINISHED_STATUSES or task["done"] < task["total"]:
            return False
        if ProgressTarget.objects.filter(task_id=task_id, done=False).exists():
            return False
        result = write_events(task_id, [Event(type=MessageType.COMPLETE)], final_status=AUTO_STATUS)
    return result.written > 0


def finalize_cancelled(task_id) -> bool:
    """Write the cancelled message of a task whose cancel was requested, once no live worker holds any of its
    targets (results of node operations already started are recorded first). True when written here."""
    with transaction.atomic():
        task = (ProgressTask.objects.select_for_update().filter(pk=task_id)
                .values("status", "cancel_requested", "started_at", "done").first())
        if task is None or task["status"] in FINISHED_STATUSES or not task["cancel_requested"]:
            return False
        if live_claims(task_id):
            return False
        ProgressTarget.objects.filter(task_id=task_id, done=False).exclude(worker="").update(
            worker="", claimed_at=None)
        error = "cancelled" if task["started_at"] or task["done"] else "cancelled before start"
        result = write_events(task_id, [Event(type=MessageType.CANCELLED, error=error)],
                              final_status=TaskStatus.CANCELLED)
    return result.written > 0


def fail_task(task_id, reason: str) -> bool:
    """End a task that cannot run at all (its operation is not registered, its scope is gone)."""
    with transaction.atomic():
        ProgressTask.objects.select_for_update().filter(pk=task_id).values_list("pk").first()
        result = write_events(task_id, [Event(type=MessageType.ERROR, error=reason)], final_status=TaskStatus.FAILED,
                              error=reason)
        ProgressTarget.objects.filter(task_id=task_id, done=False).update(worker="", claimed_at=None)
    if result.written:
        log.warning("task=%s failed: %s", task_id, reason)
    return result.written > 0


# --- the sweep: run by every worker now and then ------------------------------------------------------------------

def sweep(now=None) -> dict:
    """Repair what dead workers left: their targets go back to the queue (a task no live worker holds is `pending`
    again), a cancel nobody is left to finish is finished, a task whose results are all recorded gets its final
    message. Safe to run from several workers at once."""
    now = now or timezone.now()
    live = live_workers(now)
    out = {"requeued": [], "cancelled": [], "completed": []}
    orphaned = (ProgressTask.objects.filter(status__in=ACTIVE_STATUSES)
                .filter(Exists(ProgressTarget.objects.filter(task=OuterRef("pk"), done=False)
                               .exclude(worker="").exclude(worker__in=live))))
    for task_id in orphaned.values_list("pk", flat=True)[:200]:
        if _requeue_dead_claims(task_id, now):
            out["requeued"].append(str(task_id))
    stale_running = (ProgressTask.objects.filter(status=TaskStatus.RUNNING, cancel_requested=False)
                     .filter(Q(heartbeat_at__lt=_cutoff(now)) | Q(heartbeat_at__isnull=True))
                     .exclude(Exists(ProgressTarget.objects.filter(task=OuterRef("pk"), done=False, worker__in=live))))
    for task_id in stale_running.values_list("pk", flat=True)[:200]:
        if _requeue_dead_claims(task_id, now):
            out["requeued"].append(str(task_id))
    cancelling = ProgressTask.objects.filter(status__in=ACTIVE_STATUSES, cancel_requested=True)
    for task_id in cancelling.values_list("pk", flat=True)[:200]:
        if finalize_cancelled(task_id):
            out["cancelled"].append(str(task_id))
    complete = ProgressTask.objects.filter(status__in=ACTIVE_STATUSES, done__gte=F("total"), total__gt=0)
    for task_id in complete.values_list("pk", flat=True)[:200]:
        if finish_if_complete(task_id):
            out["completed"].append(str(task_id))
    return out


def _requeue_dead_claims(task_id, now) -> bool:
    with transaction.atomic():
        task = (ProgressTask.objects.select_for_update(skip_locked=True).filter(pk=task_id)
                .values("status", "owner").first())
        if task is None or task["status"] not in ACTIVE_STATUSES:
            return False
        live = live_workers(now)
        dead = set(ProgressTarget.objects.filter(task_id=task_id, done=False).exclude(worker="")
                   .exclude(worker__in=live).values_list("worker", flat=True))
        count = ProgressTarget.objects.filter(task_id=task_id, done=False, worker__in=dead).update(
            worker="", claimed_at=None)
        if live_claims(task_id, live):
            requeued = False
        elif task["status"] == TaskStatus.RUNNING:
            ProgressTask.objects.filter(pk=task_id).update(status=TaskStatus.PENDING, owner="")
            requeued = True
        else:
            requeued = bool(count)
        if requeued or count:
            ring_queued(task_id)
    if count:
        metrics.targets_taken_over(count)
    if count or requeued:
        who = ", ".join(sorted(dead)) or task["owner"] or "?"
        log.warning("task=%s: worker %s stopped renewing its lease; %d node(s) without a recorded result go back "
                    "to the queue", task_id, who, count)
    return requeued or bool(count)
