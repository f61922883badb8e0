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
