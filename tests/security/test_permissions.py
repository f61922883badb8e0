"""Every batch entry point checks the acting user's current role; a retry is recorded as the acting user's action.

Retry is requested through HTTP (`POST /progress/tasks/<id>/retry/`) by each role with each `which=` choice."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from nodes import batches
from nodes.models import AuditEntry
from progress.models import ProgressTask
from tests.security.conftest import ROLE_NAMES, finished_task

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _retry(user, task, which: str | None):
    data = {} if which is None else {"which": which}
    return _client(user).post(f"/progress/tasks/{task.pk}/retry/", data)


WHICH = {"failed": ["worker-0001"], "remaining": ["worker-0002", "worker-0003"],
         None: ["worker-0001", "worker-0002", "worker-0003"], "both": ["worker-0001", "worker-0002", "worker-0003"]}
# who may retry the operator's cordon task (owner or staff, with the current right to cordon)
MAY_RETRY = {"anonymous": False, "viewer": False, "operator": True, "admin": True, "superuser": True}


@pytest.mark.parametrize("which", ["failed", "remaining", "both", None])
@pytest.mark.parametrize("role", ROLE_NAMES)
def test_retry_endpoint_for_each_role_and_each_choice(cluster, users, role, which):
    owner = users["operator"]
    task = finished_task(owner, cluster.name)
    actor = users.get(role)
    before = set(ProgressTask.objects.values_list("pk", flat=True))
    response = _retry(actor, task, which)
    new = ProgressTask.objects.exclude(pk__in=before)
    if role == "anonymous":
        assert response.status_code == 302 and "/login/" in response["Location"]
        assert not new.exists()
        return
    if role == "viewer":  # another user's task: not even visible
        assert response.status_code == 404
        assert not new.exists()
        return
    assert MAY_RETRY[role]
    assert response.status_code == 302
    created = new.get()
    assert response["Location"] == f"/progress/tasks/{created.pk}/"
    assert created.retry_of_id == task.pk
    assert created.user_id == actor.pk, "the retry is the acting user's action"
    assert created.action == "cordon" and created.cluster_name == cluster.name
    assert list(created.nodes) == WHICH[which]


def test_retry_with_an_unknown_choice_says_so_and_queues_nothing(cluster, users):
    task = finished_task(users["operator"], cluster.name)
    client = _client(users["operator"])
    response = client.post(f"/progress/tasks/{task.pk}/retry/", {"which": "everything"})
    assert response["Location"] == f"/progress/tasks/{task.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "which must be one of failed, remaining or both" in page.lower()
    preview = client.get(f"/clusters/{cluster.name}/nodes/action/?retry={task.pk}&which=everything")
    assert preview["Location"] == f"/progress/tasks/{task.pk}/"
    assert ProgressTask.objects.count() == 1


def test_an_operator_demoted_to_viewer_cannot_retry_or_cancel_his_own_task(cluster, users):
    operator = users["operator"]
    task = finished_task(operator, cluster.name, action="label", parameters={"set": {"team": "a"}, "remove": []})
    running = ProgressTask.objects.create(user=operator, cluster_name=cluster.name, action="label",
                                          parameters={"set": {"team": "a"}, "remove": []},
                                          nodes=["worker-0005"], total=1)
    operator.groups.clear()
    operator.groups.add(Group.objects.get(name="viewer"))
    operator = type(operator).objects.get(pk=operator.pk)  # permissions are cached per instance
    assert _retry(operator, task, "both").status_code in (403, 404)
    assert _client(operator).post(f"/progress/tasks/{running.pk}/cancel/").status_code in (403, 404)
    running.refresh_from_db()
    assert not running.cancel_requested
    assert ProgressTask.objects.count() == 2
    with pytest.raises(PermissionDenied):
        batches.retry_batch(task, operator)
    with pytest.raises(PermissionDenied):
        batches.cancel_batch(running, operator)
    with pytest.raises(PermissionDenied):
        batches.cancel_batch(running, None)  # the acting user is required


def test_a_viewer_cannot_retry_an_old_drain_even_his_own(cluster, users):
    viewer = users["viewer"]
    task = finished_task(viewer, cluster.name, action="drain", parameters={})
    assert _retry(viewer, task, "both").status_code in (403, 404)
    assert ProgressTask.objects.count() == 1


def test_an_operator_cannot_retry_a_drain_of_his_own_after_losing_the_right(cluster, users):
    task = finished_task(users["operator"], cluster.name, action="drain", parameters={})
    assert _retry(users["operator"], task, "both").status_code in (403, 404)
    assert ProgressTask.objects.count() == 1


def test_a_staff_retry_runs_and_is_audited_as_the_staff_member(cluster, users, task_worker):
    owner, staff = users["operator"], users["admin"]
    task = finished_task(owner, cluster.name, parameters={"reason": "kernel"})
    response = _retry(staff, task, "failed")
    created = ProgressTask.objects.get(retry_of=task)
    assert response["Location"] == f"/progress/tasks/{created.pk}/"
    task_worker()
    from tests.progress.helpers import until

    until(lambda: ProgressTask.objects.get(pk=created.pk).is_finished, what="the retry to finish")
    entries = list(AuditEntry.objects.filter(task_id=created.pk))
    assert [(e.node, e.username) for e in entries] == [("worker-0001", staff.username)]


def test_node_batch_command_goes_through_the_same_rules(cluster, users):
    for role, action in (("viewer", "cordon"), ("operator", "drain")):
        with pytest.raises(CommandError) as exc:
            call_command("node_batch", "--cluster", cluster.name, "--user", users[role].username,
                         "--action", action, "--nodes", "worker-0020", stdout=io.StringIO(), stderr=io.StringIO())
        assert f"you may not run {action}" in str(exc.value)
    inactive = users["operator"]
    inactive.is_active = False
    inactive.save()
    with pytest.raises(CommandError):
        call_command("node_batch", "--cluster", cluster.name, "--user", inactive.username,
                     "--action", "cordon", "--nodes", "worker-0020", stdout=io.StringIO(), stderr=io.StringIO())
    assert not ProgressTask.objects.exists()
