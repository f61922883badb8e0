"""Batches of node operations: the one entry point the pages, the command line and the API use.

`start_batch` validates the action and its parameters, checks the acting user's right, resolves the targets and
queues the task; `retry_batch` queues the failed and/or unfinished nodes of a finished task again, as the acting
user; `cancel_batch` asks a task to stop.
"""

from __future__ import annotations

from progress import services as progress_services


def start_batch(user, cluster, action: str, params: dict | None = None, *, names: list[str] | None = None,
                selector: str | None = None, all_nodes: bool = False, concurrency: int = 0, submit: bool = True):
    return progress_services.create_task(user, cluster, action, params, names=names, selector=selector,
                                         all_nodes=all_nodes, concurrency=concurrency, submit=submit)


def retry_batch(task, user, *, failed: bool = True, remaining: bool = True):
    return progress_services.retry_task(task, user, failed=failed, remaining=remaining)


def cancel_batch(task, user=None):
    return progress_services.cancel_task(task, user)
