"""Reads of progress: access rules, messages after a seq, snapshots, task state JSON."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from kubenode import access

from .models import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    MessageType,
    ProgressMessage,
    ProgressTarget,
    ProgressTask,
    ProgressWorker,
)

PAGE_SIZE = 500
RECENT_WINDOW = timedelta(hours=1)
SNAPSHOT_LIMIT = 50


def can_view(user, task: ProgressTask) -> bool:
    return access.can_view_task(user, task)


def visible_tasks(user) -> QuerySet[ProgressTask]:
    if not (user and user.is_authenticated and user.is_active):
        return ProgressTask.objects.none()
    qs = ProgressTask.objects.select_related("user")
    return qs if access.sees_every_task(user) else qs.filter(user_id=user.pk)


def get_task_for(user, task_id) -> ProgressTask:
    """The task when the user may see it; PermissionDenied otherwise (also for unknown ids)."""
    try:
        task = ProgressTask.objects.select_related("user").get(pk=task_id)
    except (ProgressTask.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise PermissionDenied("no such task") from exc
    if not can_view(user, task):
        raise PermissionDenied("no such task")
    return task


def message_frame(msg: ProgressMessage, task_id=None) -> dict:
    frame = {"task": str(task_id or msg.task_id), "seq": msg.seq, "type": msg.type, "node": msg.node,
             "outcome": msg.outcome, "error": msg.error, "total": msg.total, "done": msg.done,
             "succeeded": msg.succeeded, "failed": msg.failed}
    if msg.type != MessageType.PROGRESS or msg.detail:
        frame["detail"] = msg.detail
    return frame


def messages_after(task_id, after_seq: int, limit: int = PAGE_SIZE, up_to: int | None = None) -> list[dict]:
    rows = ProgressMessage.objects.filter(task_id=task_id, seq__gt=after_seq)
    if up_to is not None:
        rows = rows.filter(seq__lte=up_to)
    return [message_frame(m, task_id) for m in rows.order_by("seq")[:limit]]


def task_state(task: ProgressTask) -> dict:
    return {"task": str(task.pk), "user": task.user.get_username() if task.user_id else "",
            "cluster": task.cluster_name, "action": task.action, "parameters": task.parameters,
            "selector": task.selector, "status": task.status, "finished": task.is_finished,
            "total": task.total, "done": task.done, "succeeded": task.succeeded, "failed": task.failed,
            "current_node": task.current_node, "error": task.error, "last_seq": task.last_seq,
            "retry_of": str(task.retry_of_id) if task.retry_of_id else None,
            "owner": task.owner, "cancel_requested": task.cancel_requested,
            "created_at": _iso(task.created_at), "started_at": _iso(task.started_at),
            "finished_at": _iso(task.finished_at), "heartbeat_at": _iso(task.heartbeat_at)}


def _iso(value):
    return value.isoformat() if value else None


def snapshot(user) -> list[dict]:
    """The user's running tasks and recently finished ones (staff: their own too, not everyone's)."""
    since = timezone.now() - RECENT_WINDOW
    qs = ProgressTask.objects.select_related("user").filter(user_id=user.pk)
    running = list(qs.filter(status__in=ACTIVE_STATUSES)[:SNAPSHOT_LIMIT])
    recent = list(qs.filter(status__in=FINISHED_STATUSES, finished_at__gte=since)[:SNAPSHOT_LIMIT])
    return [task_state(t) for t in running + recent]


def node_outcomes(task: ProgressTask) -> list[dict]:
    """Per-node state: every target node with its outcome (pending when no result yet)."""
    results = {m.node: m for m in ProgressMessage.objects.filter(
        task_id=task.pk, type=MessageType.PROGRESS).exclude(node="").order_by("seq")}
    out = []
    for name in task.nodes:
        m = results.get(name)
        out.append({"node": name, "outcome": m.outcome if m else "pending", "error": m.error if m else "",
                    "seq": m.seq if m else None, "at": _iso(m.created_at) if m else None,
                    "detail": m.detail if m else {}})
    return out


def timeline(task: ProgressTask, limit: int = 200) -> list[ProgressMessage]:
    return list(ProgressMessage.objects.filter(task_id=task.pk).exclude(type=MessageType.PROGRESS)
                .order_by("seq")[:limit])


def remaining_nodes(task: ProgressTask, *, failed: bool = True, unfinished: bool = True) -> list[str]:
    outcomes = dict(ProgressMessage.objects.filter(task_id=task.pk, type=MessageType.PROGRESS)
                    .exclude(node="").values_list("node", "outcome"))
    picked = []
    for name in task.nodes:
        outcome = outcomes.get(name)
        if (failed and outcome == "failed") or (unfinished and outcome is None):
            picked.append(name)
    return picked


def stats(now=None) -> dict:
    now = now or timezone.now()
    hour = ProgressTask.objects.filter(created_at__gte=now - timedelta(hours=1))
    by_status = dict(hour.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    finished = sum(by_status.get(s, 0) for s in FINISHED_STATUSES)
    cutoff = now - timedelta(seconds=settings.CONFIG["worker.lease"])
    running = ProgressTask.objects.filter(status__in=ACTIVE_STATUSES)
    oldest = running.aggregate(m=Min("created_at"))["m"]
    live = ProgressWorker.objects.filter(heartbeat_at__gte=cutoff, stopped_at__isnull=True)
    return {"last_hour_by_status": by_status,
            "failure_rate": round(by_status.get("failed", 0) / finished, 4) if finished else 0.0,
            "running": running.count(),
            "queued_nodes": ProgressTarget.objects.filter(done=False, task__status__in=ACTIVE_STATUSES).count(),
            "stale_heartbeats": running.filter(status="running", heartbeat_at__lt=cutoff).count(),
            "workers": sorted(live.values_list("name", flat=True)),
            "oldest_unfinished": _iso(oldest)}
