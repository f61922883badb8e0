"""Writes of tasks: create (queue), cancel, retry, prune. Generic: the operation is looked up in the registry.

A task is created and queued in one transaction (its targets and the "task queued" doorbell); workers run it.
The web never runs tasks: a task it creates is picked up by a worker (progress_worker, or the worker thread of
the embedded default), and one created while no worker runs waits, queued, until one starts.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from kubenode import access, runtime
from kubenode.words import outcome_name

from . import operations, queue, selectors
from .models import FINISHED_STATUSES, ProgressTask

log = logging.getLogger("kubenode.progress")

MAX_NODES = 20000


def concurrency_limit(action: str) -> int:
    """The per-scope limit of the action's group (what a task may ask for at most)."""
    return max(1, int(operations.get(action).limit()))


def create_task(user, action: str, scope: str, params: dict, targets: list[str], *, selector: str = "",
                concurrency: int = 0, retry_of: ProgressTask | None = None, queued: bool = True) -> ProgressTask:
    """Record a task of the registered operation `action` on `targets` in `scope`, and queue it.

    `params` are validated by the operation; the caller resolved the targets and checked the user's right.
    `queued=False` records it without queueing (`queue_task` queues it later)."""
    operation = operations.get(action)
    params = operation.validate(dict(params or {}))
    targets = list(dict.fromkeys(t for t in targets if t))
    if not targets:
        raise ValidationError(_("no node matches the target"))
    if len(targets) > MAX_NODES:
        raise ValidationError(_("%(count)s nodes exceed the limit of %(limit)s per task") % {
            "count": number_format(len(targets)), "limit": number_format(MAX_NODES)})
    if concurrency < 0:
        raise ValidationError(_("concurrency must be positive"))
    limit = concurrency_limit(action)
    with transaction.atomic():
        task = ProgressTask.objects.create(
            user=user, cluster_name=scope, action=action, parameters=params, selector=selector, nodes=targets,
            concurrency=min(concurrency, limit) if concurrency else limit, total=len(targets), retry_of=retry_of)
        if queued:
            queue.enqueue(task, targets)
    log.info("task queued task=%s user=%s cluster=%s action=%s nodes=%s%s", task.pk, user, scope, action,
             len(targets), f" retry_of={retry_of.pk}" if retry_of is not None else "")
    return task


def queue_task(task: ProgressTask) -> None:
    """Queue a task recorded with queued=False (once)."""
    with transaction.atomic():
        locked = ProgressTask.objects.select_for_update().get(pk=task.pk)
        if locked.is_finished or queue.is_queued(task.pk):
            return
        queue.enqueue(locked, list(locked.nodes))


def cancel_task(task: ProgressTask, user=None) -> ProgressTask:
    """Ask the task to stop at the next node boundary, whichever worker runs it (they notice within a second);
    a task no worker holds is cancelled at once, its recorded results kept."""
    if user is not None:
        access.require_manage_task(user, task)
    if task.is_finished:
        raise ValidationError(_("task is already %(status)s") % {"status": outcome_name(task.status)})
    with transaction.atomic():
        ProgressTask.objects.filter(pk=task.pk).update(cancel_requested=True)
        queue.ring_queued(task.pk, "cancel")
    queue.finalize_cancelled(task.pk)
    log.info("task cancel requested task=%s by=%s", task.pk, user)
    task.refresh_from_db()
    return task


RETRY_CHOICES = ("failed", "remaining", "both")


def retry_choice(which: str | None) -> tuple[bool, bool]:
    """`which=` of a retry (failed, remaining or both; default both) as (failed, unfinished)."""
    which = which or "both"
    if which not in RETRY_CHOICES:
        raise ValidationError("which must be one of failed, remaining or both")
    return which in ("failed", "both"), which in ("remaining", "both")


def retry_task(task: ProgressTask, user, *, failed: bool = True, remaining: bool = True) -> ProgressTask:
    """A new task, run as the acting `user`, for the failed and/or never-finished nodes of `task` (retry_of)."""
    access.require_manage_task(user, task)
    runtime.refuse_if_shutting_down()
    if not task.is_finished:
        raise ValidationError(_("a task can be retried once it has finished"))
    operation = operations.get(task.action)
    if operation.check_scope is not None:
        operation.check_scope(task.cluster_name)
    nodes = selectors.remaining_nodes(task, failed=failed, unfinished=remaining)
    if not nodes:
        raise ValidationError(_("nothing to retry: every node succeeded"))
    return create_task(user, task.action, task.cluster_name, dict(task.parameters), nodes,
                       concurrency=task.concurrency, retry_of=task)


def prune(older_than: timedelta, now=None) -> int:
    """Delete finished tasks (and their messages) finished before now - older_than. Never unfinished ones."""
    now = now or timezone.now()
    qs = ProgressTask.objects.filter(status__in=FINISHED_STATUSES, finished_at__lt=now - older_than)
    count = qs.count()
    qs.delete()
    return count
