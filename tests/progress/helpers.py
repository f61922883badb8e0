"""Small builders shared by the progress tests."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.test import Client

from progress.models import ProgressTask, TaskStatus
from progress.writer import Event, flush_events


def make_user(username: str, *, staff: bool = False, role: str | None = "operator"):
    """A user in the given role group (viewer / operator / admin; None: no group)."""
    from django.contrib.auth.models import Group

    from nodes.roles import ensure_groups

    user = get_user_model().objects.create_user(username=username, password="pw-" + username, is_staff=staff)
    if role:
        if not Group.objects.filter(name=role).exists():
            ensure_groups()
        user.groups.add(Group.objects.get(name=role))
    return user


def make_task(user, *, nodes: int = 3, status: str = TaskStatus.RUNNING, owner: str = "test-runner", **extra):
    names = [f"node-{i:05d}" for i in range(nodes)]
    return ProgressTask.objects.create(user=user, cluster_name="sim", action="cordon", nodes=names,
                                       total=len(names), status=status, owner=owner, **extra)


def write_results(task, results: list[tuple[str, bool]], **kwargs) -> int:
    events = [Event(type="progress", node=n, outcome="succeeded" if ok else "failed",
                    error="" if ok else f"boom on {n}", ok=ok) for n, ok in results]
    return flush_events(task.pk, events, **kwargs)


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def override_config(settings, values: dict) -> None:
    """Replace configuration values for this test (settings.CONFIG is read at each use)."""
    from kubenode.config import Config, Value

    merged = dict(settings.CONFIG.values)
    for key, value in values.items():
        merged[key] = Value(key, value, "test override", merged[key].secret)
    settings.CONFIG = Config(values=merged, config_file=settings.CONFIG.config_file)


def until(predicate, timeout: float = 120, every: float = 0.02, what: str = "condition"):
    """Poll `predicate` until it returns something true; that value is returned."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what} not reached within {timeout}s")


def assert_rows_exact(task) -> list:
    """seq 1..last_seq without a gap or duplicate; one progress row per finished node; counters agree with the rows;
    at most one final message, and it is the last row."""
    from progress.models import FINISHED_STATUSES, MessageType, ProgressMessage

    task.refresh_from_db()
    rows = list(ProgressMessage.objects.filter(task=task).order_by("seq"))
    assert [m.seq for m in rows] == list(range(1, task.last_seq + 1))
    progress = [m for m in rows if m.type == MessageType.PROGRESS]
    assert len(progress) == len({m.node for m in progress}) == task.done
    assert sum(m.outcome == "succeeded" for m in progress) == task.succeeded
    assert sum(m.outcome == "failed" for m in progress) == task.failed
    finals = [m for m in rows if m.type != MessageType.PROGRESS]
    assert len(finals) <= 1 and (not finals or finals[0] is rows[-1])
    assert bool(finals) == (task.status in FINISHED_STATUSES)
    return rows
