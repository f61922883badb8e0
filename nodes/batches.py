"""Batches of node operations: the one entry point the pages, the command line, the admin and the API use.

`start_batch` checks the acting user's right, validates the action and its parameters, resolves the targets and
queues the task (progress, the generic task engine, runs it in a worker); `retry_batch` queues the failed and/or
unfinished nodes of a finished task again, run as the acting user (`retry_of` links them); `cancel_batch` asks a
task to stop. `register_operations` (from the app's ready()) tells the engine how to run node operations.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from kubenode import access, runtime
from progress import operations
from progress import services as progress_services

from . import selectors, services
from .models import BatchToken, Cluster
from .selectors import invalidate_nodes
from .validation import ACTIONS, require_confirmation


def concurrency_limit(action: str) -> int:
    """Node operations of this kind that may run at once on one cluster, across every worker."""
    key = "batch.drain_concurrency" if action == "drain" else "batch.concurrency"
    return max(1, int(settings.CONFIG[key]))


def start_batch(user, cluster, action: str, params: dict | None = None, *, names: list[str] | None = None,
                selector: str | None = None, all_nodes: bool = False, concurrency: int = 0, queued: bool = True,
                via_token: str = ""):
    """Validate, resolve the targets and queue the batch; returns the ProgressTask. ValidationError with a clear
    message (nothing recorded) for bad input; PermissionDenied when the user may not run the action. `via_token`:
    the name of the access token the batch is started with (its audit entries name it)."""
    runtime.refuse_if_shutting_down()
    if action not in ACTIONS:
        raise ValidationError(_("unknown action %(action)s; one of %(actions)s") % {"action": repr(action),
                                                                                  "actions": ", ".join(ACTIONS)})
    access.require_run(user, action)
    chosen = sum([bool(names), bool(selector), bool(all_nodes)])
    if chosen != 1:
        raise ValidationError(_("choose exactly one target: node names, a label selector, or all nodes"))
    if concurrency < 0:
        raise ValidationError(_("concurrency must be positive"))
    require_confirmation(action, dict(params or {}))
    normalized = services.validate_action(action, dict(params or {}))
    if names:
        names = list(dict.fromkeys(n.strip() for n in names if n and n.strip()))
    targets = selectors.resolve_targets(cluster, names=names or None, selector=selector or None,
                                        all_nodes=all_nodes)
    access.require_run_batch(user, action, normalized, len(targets))
    with transaction.atomic():  # the token's name is there before a worker can claim the batch
        task = progress_services.create_task(user, action, cluster.name, normalized, targets,
                                             selector=selector or ("(all nodes)" if all_nodes else ""),
                                             concurrency=concurrency, queued=queued)
        _remember_token(task, via_token)
    return task


def _remember_token(task, via_token: str) -> None:
    if via_token:
        BatchToken.objects.create(task_id=task.pk, token_name=via_token[:100])


def retry_batch(task, user, *, failed: bool = True, remaining: bool = True, via_token: str = ""):
    """Queue the failed and/or unfinished nodes of `task` again, as `user` (who must still be allowed to run the
    task's action on it); `via_token` as for start_batch."""
    access.require_manage_task(user, task)
    with transaction.atomic():
        new = progress_services.retry_task(task, user, failed=failed, remaining=remaining)
        _remember_token(new, via_token)
    return new


def cancel_batch(task, user):
    """Ask `task` to stop, for `user` (the owner or staff, still allowed to run its action)."""
    access.require_manage_task(user, task)
    return progress_services.cancel_task(task, user)


# --- the engine's view of node operations -------------------------------------------------------------------------

def _prepare(action: str):
    def prepare(task):
        cluster = Cluster.objects.filter(name=task.cluster_name).first()
        if cluster is None:
            raise operations.ScopeUnavailable(f"the task's cluster {task.cluster_name!r} no longer exists")
        user, params = task.user, dict(task.parameters)
        via_token = BatchToken.objects.filter(task_id=task.pk).values_list("token_name", flat=True).first() or ""

        def run(node: str, should_stop) -> operations.Outcome:
            outcome, entry = services.perform_node_action(cluster, node, action, params, user=user,
                                                          task_id=task.pk, should_stop=should_stop,
                                                          via_token=via_token)
            return operations.Outcome(ok=outcome.ok, error=outcome.error, detail=outcome.detail or {}, record=entry)

        return run

    return prepare


def _persist(entries: list) -> None:
    """Audit entries of a batch, stored in the transaction that records their results: one per node, once."""
    services.save_audit_entries(entries)
    clusters = {e.cluster_id: e.cluster for e in entries if e.cluster_id}
    transaction.on_commit(lambda: [invalidate_nodes(c) for c in clusters.values()])


def _check_scope(name: str) -> None:
    if not Cluster.objects.filter(name=name).exists():
        raise ValidationError(_("the task's cluster %(cluster)s no longer exists") % {"cluster": repr(name)})


def _operation(action: str) -> operations.Operation:
    return operations.Operation(
        name=action, prepare=_prepare(action), validate=lambda params: services.validate_action(action, params),
        limit_group="drain" if action == "drain" else "edit", limit=lambda: concurrency_limit(action),
        persist=_persist, check_scope=_check_scope)


def register_operations() -> None:
    operations.register_all(_operation(action) for action in ACTIONS)
