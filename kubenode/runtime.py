"""Process-wide state that every layer may read: which replica this is, its role, and whether it is shutting down.

Nothing here imports an app of the project: the launcher (`kubenode.serve`), the worker command, the services
and the views all read and set the same flags through this module.

- `replica_id()`: this process's name (``server.replica_id``; ``KUBENODE_REPLICA_ID`` / ``POD_NAME`` / host name
  and process id). Workers use it as their lease name; doorbells and logs carry it.
- `role()` / `set_role()`: ``web`` (daphne: pages and WebSockets, never runs tasks), ``worker``
  (``progress_worker``), ``embedded`` (the web with the worker loop as a thread, on SQLite), or ``command``.
- `begin_shutdown()` / `shutting_down()` / `refuse_if_shutting_down()`: once a process began its graceful
  shutdown it is not ready and accepts no new batches.
"""

from __future__ import annotations

import threading

SHUTTING_DOWN_MESSAGE = ("this replica is shutting down and accepts no new batches; "
                         "submit the batch again (another replica takes it)")

ROLES = ("web", "worker", "embedded", "command")

_shutting_down = threading.Event()
_state = {"role": "command", "replica": ""}


def replica_id() -> str:
    """This process's replica name, from the resolved configuration (or the one set by `set_replica_id`)."""
    if _state["replica"]:
        return _state["replica"]
    from django.conf import settings

    config = getattr(settings, "CONFIG", None)
    return str(config.replica_id if config is not None else "") or "local"


def set_replica_id(name: str) -> None:
    """Name this process (tests run several workers in one process; '' returns to the configured name)."""
    _state["replica"] = str(name or "")


def role() -> str:
    return _state["role"]


def set_role(name: str) -> None:
    if name not in ROLES:
        raise ValueError(f"unknown role {name!r}; one of {', '.join(ROLES)}")
    _state["role"] = name


def shutting_down() -> bool:
    """True once this process began its graceful shutdown."""
    return _shutting_down.is_set()


def begin_shutdown() -> None:
    _shutting_down.set()


def reset_shutdown() -> None:
    """Back to accepting work (tests that simulate a shutdown in the test process)."""
    _shutting_down.clear()


def refuse_if_shutting_down() -> None:
    """Raise a ValidationError with a clear message when this process no longer accepts batches."""
    if _shutting_down.is_set():
        from django.core.exceptions import ValidationError

        raise ValidationError(SHUTTING_DOWN_MESSAGE, code="shutting_down")
