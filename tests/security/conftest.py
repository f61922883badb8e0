"""Users of each role, and a finished task with failed and unfinished nodes to retry."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from progress.models import ProgressTask, TaskStatus
from tests.progress.helpers import write_results

ROLE_NAMES = ("anonymous", "viewer", "operator", "admin", "superuser")


def make_user(username: str, role: str | None):
    """viewer / operator: the group; admin: the admin group and staff (not superuser); superuser."""
    from nodes.roles import ensure_groups

    User = get_user_model()
    if role == "superuser":
        return User.objects.create_superuser(username, f"{username}@example.com", "pw-" + username)
    user = User.objects.create_user(username, password="pw-" + username, is_staff=role == "admin")
    if role:
        if not Group.objects.filter(name=role).exists():
            ensure_groups()
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def users(db):
    return {role: make_user(f"{role}1", role) for role in ROLE_NAMES if role != "anonymous"}


def finished_task(user, cluster_name: str, action: str = "cordon", nodes: int = 4, parameters: dict | None = None):
    """A failed task: node 0 succeeded, node 1 failed, the others never finished."""
    names = [f"worker-{i:04d}" for i in range(nodes)]
    task = ProgressTask.objects.create(user=user, cluster_name=cluster_name, action=action, nodes=names,
                                       total=len(names), status=TaskStatus.RUNNING, owner="test",
                                       parameters=parameters if parameters is not None else {"reason": ""})
    write_results(task, [(names[0], True), (names[1], False)], final_status=TaskStatus.FAILED)
    task.refresh_from_db()
    return task


@pytest.fixture(scope="module")
def shared_sim(tmp_path_factory):
    from tests.fixtures.kube import start_kube_sim

    sim = start_kube_sim(tmp_path_factory.mktemp("security_sim"), nodes=30, seed=7)
    yield sim
    sim.stop()


@pytest.fixture
def cluster(shared_sim, db):
    from nodes.services import import_cluster

    return import_cluster("shared", shared_sim.kubeconfig_text, simulated=True)
