"""The operations the task engine runs, registered by the apps that own them.

The engine (tasks, queue, worker, writer) knows nothing of nodes or clusters: `nodes` registers its node
operations here from its AppConfig.ready. A task names its operation (`action`), the scope it runs in
(`cluster_name`) and its targets; a worker asks the operation to `prepare` a task once and then to run it on each
target it claimed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError


@dataclass
class Outcome:
    """The result of one operation on one target. `record` is the operation's own durable record of it (for node
    operations: the audit entry), stored by `Operation.persist` in the transaction that records the result."""

    ok: bool
    error: str = ""
    detail: dict = field(default_factory=dict)
    record: Any = None


class ScopeUnavailable(Exception):
    """The task cannot run at all (for example its cluster was deleted); the message says why."""


RunTarget = Callable[[str, Callable[[], bool]], Outcome]


@dataclass(frozen=True)
class Operation:
    """One registered operation.

    - prepare(task) -> run(target, should_stop) -> Outcome: called once per task and worker; raises
      ScopeUnavailable when the task cannot run. `run` never raises for the operation's own failures.
    - validate(params) -> normalised params; ValidationError with a clear message.
    - limit_group and limit(): at most limit() operations of this group run at once per scope, across every
      worker (node operations: "edit" = label/taint/cordon, "drain").
    - persist(records): stores the outcomes' records inside the transaction that records their results.
    - check_scope(scope): raises ValidationError when new tasks cannot use the scope (retry of an old task).
    """

    name: str
    prepare: Callable[[Any], RunTarget]
    validate: Callable[[dict], dict]
    limit_group: str
    limit: Callable[[], int]
    persist: Callable[[list], None] | None = None
    check_scope: Callable[[str], None] | None = None


_registry: dict[str, Operation] = {}


def register(operation: Operation) -> None:
    _registry[operation.name] = operation


def register_all(operations: Iterable[Operation]) -> None:
    for operation in operations:
        register(operation)


def get(name: str) -> Operation:
    """The operation registered as `name`; ValidationError naming the known ones otherwise."""
    try:
        return _registry[name]
    except KeyError:
        known = ", ".join(sorted(_registry)) or "none registered"
        raise ValidationError(f"unknown action {name!r}; one of {known}") from None


def names() -> list[str]:
    return sorted(_registry)
