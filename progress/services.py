"""Writes of progress: create, start, cancel, retry, reap, prune."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kubenode import access

from . import selectors
from .models import ACTIVE_STATUSES, FINISHED_STATUSES, MessageType, ProgressTask, TaskStatus
from .writer import Event, flush_events

log = logging.getLogger("kubenode.progress")

ACTIONS = ("label", "unlabel", "taint", "untaint", "cordon", "uncordon", "drain")
MAX_NODES = 20000


def concurrency_limit(action: str) -> int:
    key = "BATCH_DRAIN_CONCURRENCY" if action == "drain" else "BATCH_CONCURRENCY"
    return max(1, int(settings.KUBENODE[key]))


def create_task(user, cluster, action: str, params: dict | None = None, *, names: list[str] | None = None,
                selector: str | None = None, all_nodes: bool = False, concurrency: int = 0,
                retry_of: ProgressTask | None = None, submit: bool = True) -> ProgressTask:
    """Validate, resolve the targets and record a pending task; hand it to the runner."""
    from kubenode.serve import refuse_if_shutting_down
    from nodes import selectors as node_selectors
    from nodes import services as node_services

    refuse_if_shutting_down()
    if action not in ACTIONS:
        raise ValidationError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    access.require_run(user, action)
    chosen = sum([bool(names), bool(selector), bool(all_nodes)])
    if chosen != 1:
        raise ValidationError("choose exactly one target: node names, a label selector, or all nodes")
    if concurrency < 0:
        raise ValidationError("concurrency must be positive")
    normalized = node_services.validate_action(action, dict(params or {}))
    if names:
        names = list(dict.fromkeys(n.strip() for n in names if n and n.strip()))
    targets = node_selectors.resolve_targets(cluster, names=names or None, selector=selector or None,
                                            all_nodes=all_nodes)
    targets = list(dict.fromkeys(targets))
    if not targets:
        raise ValidationError("no node matches the target")
    if len(targets) > MAX_NODES:
        raise ValidationError(f"{len(targets)} nodes exceed the limit of {MAX_NODES} per task")
    limit = concurrency_limit(action)
    task = ProgressTask.objects.create(
        user=user, cluster=cluster, cluster_name=cluster.name, action=action, parameters=normalized,
        selector=selector or ("(all nodes)" if all_nodes else ""), nodes=targets,
        concurrency=min(concurrency, limit) if concurrency else limit, total=len(targets), retry_of=retry_of)
    log.info("task created task=%s user=%s cluster=%s action=%s nodes=%s", task.pk, user, cluster.name,
             action, len(targets))
    if submit:
        from .runner import get_runner

        transaction.on_commit(lambda: get_runner().submit(task.pk))
    return task


def mark_running(task_id, owner: str) -> bool:
    """pending → running, owned by `owner`; False when the task is no longer pending."""
    now = timezone.now()
    return bool(ProgressTask.objects.filter(pk=task_id, status=TaskStatus.PENDING).update(
        status=TaskStatus.RUNNING, owner=owner, started_at=now, heartbeat_at=now))


def heartbeat(task_ids, owner: str) -> list:
    """Refresh heartbeat_at of owned running tasks; returns the ids whose cancel was requested."""
    if not task_ids:
        return []
    qs = ProgressTask.objects.filter(pk__in=list(task_ids), owner=owner, status__in=ACTIVE_STATUSES)
    qs.update(heartbeat_at=timezone.now())
    return list(qs.filter(cancel_requested=True).values_list("pk", flat=True))


def cancel_task(task: ProgressTask, user=None) -> ProgressTask:
    """Ask the task to stop at the next node boundary; a task not yet started is cancelled at once."""
    if user is not None:
        access.require_manage_task(user, task)
    if task.is_finished:
        raise ValidationError(f"task is already {task.status}")
    ProgressTask.objects.filter(pk=task.pk).update(cancel_requested=True)
    with transaction.atomic():
        locked = ProgressTask.objects.select_for_update().get(pk=task.pk)
        if locked.status == TaskStatus.PENDING and not locked.owner:
            flush_events(task.pk, [Event(type=MessageType.CANCELLED, error="cancelled before start")],
                         final_status=TaskStatus.CANCELLED)
    from .runner import peek_runner

    runner = peek_runner()
    if runner is not None:
        runner.cancel(task.pk)
    task.refresh_from_db()
    return task


def retry_task(task: ProgressTask, user, *, failed: bool = True, remaining: bool = True) -> ProgressTask:
    """A new task for the failed and/or never-finished nodes of `task`, linked by retry_of."""
    from kubenode.serve import refuse_if_shutting_down

    access.require_manage_task(user, task)
    refuse_if_shutting_down()
    if not task.is_finished:
        raise ValidationError("a task can be retried once it has finished")
    if task.cluster is None:
        raise ValidationError("the task's cluster no longer exists")
    nodes = selectors.remaining_nodes(task, failed=failed, unfinished=remaining)
    if not nodes:
        raise ValidationError("nothing to retry: every node succeeded")
    from nodes import services as node_services

    params = node_services.validate_action(task.action, dict(task.parameters))
    limit = concurrency_limit(task.action)
    new = ProgressTask.objects.create(
        user=task.user, cluster=task.cluster, cluster_name=task.cluster_name, action=task.action,
        parameters=params, nodes=nodes, total=len(nodes), concurrency=min(task.concurrency or limit, limit),
        retry_of=task, selector="")
    log.info("task retried task=%s from=%s nodes=%s by=%s", new.pk, task.pk, len(nodes), user)
    from .runner import get_runner

    transaction.on_commit(lambda: get_runner().submit(new.pk))
    return new


def interrupt_task(task_id, reason: str, *, only_if_stale_before=None) -> bool:
    """Mark an unfinished task interrupted with an `interrupted` row; per-node results stay."""
    with transaction.atomic():
        try:
            task = ProgressTask.objects.select_for_update().get(pk=task_id)
        except ProgressTask.DoesNotExist:
            return False
        if task.status not in ACTIVE_STATUSES:
            return False
        if only_if_stale_before is not None:
            beat = task.heartbeat_at or task.created_at
            if beat >= only_if_stale_before:
                return False
        flush_events(task.pk, [Event(type=MessageType.INTERRUPTED, error=reason)],
                     final_status=TaskStatus.INTERRUPTED, error=reason)
    log.warning("task interrupted task=%s: %s", task_id, reason)
    return True


def reap_stale(now=None) -> list:
    """Interrupt every running task whose owner stopped beating for HEARTBEAT_TIMEOUT_S."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.KUBENODE["HEARTBEAT_TIMEOUT_S"])
    stale = ProgressTask.objects.filter(status=TaskStatus.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff))
    reaped = []
    for task in stale.only("pk", "owner"):
        reason = f"replica {task.owner or '?'} stopped heartbeating"
        if interrupt_task(task.pk, reason, only_if_stale_before=cutoff):
            reaped.append(task.pk)
    return reaped


def prune(older_than: timedelta, now=None) -> int:
    """Delete finished tasks (and their messages) finished before now - older_than. Never unfinished ones."""
    now = now or timezone.now()
    qs = ProgressTask.objects.filter(status__in=FINISHED_STATUSES, finished_at__lt=now - older_than)
    count = qs.count()
    qs.delete()
    return count
