"""Reserved taint keys and NoExecute taints need the explicit confirmation reserved label keys need; a NoExecute taint
on more than one node needs the drain right (it evicts pods as a drain does, without PodDisruptionBudgets)."""

import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from nodes import batches
from progress.models import ProgressTask
from tests.security.conftest import finished_task

pytestmark = pytest.mark.django_db
ACTION = "/clusters/shared/nodes/action/"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


CONTROL_PLANE = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
NOEXECUTE = [{"key": "maintenance", "value": "yes", "effect": "NoExecute"}]


@pytest.mark.parametrize("action, taints", [("untaint", CONTROL_PLANE), ("taint", [dict(CONTROL_PLANE[0], value="")]),
                                            ("taint", NOEXECUTE)])
def test_reserved_taints_and_noexecute_need_confirmation(cluster, users, action, taints):
    admin = users["admin"]
    with pytest.raises(ValidationError, match="confirm explicitly"):
        batches.start_batch(admin, cluster, action, {"taints": taints}, names=["worker-0001"])
    assert not ProgressTask.objects.exists()
    task = batches.start_batch(admin, cluster, action, {"taints": taints, "confirm_reserved": True},
                               names=["worker-0001"])
    assert task.parameters["confirm_reserved"] is True


def test_the_page_asks_for_the_confirmation(cluster, users):
    client = _client(users["operator"])
    data = {"action": "untaint", "targets": "worker-0002", "taints": "node-role.kubernetes.io/control-plane:NoSchedule",
            "submitted": "1", "confirm": "yes"}
    response = client.post(ACTION, data)
    assert response.status_code == 400
    assert "reserved Kubernetes prefix" in response.content.decode()
    assert not ProgressTask.objects.exists()
    response = client.post(ACTION, {**data, "confirm_reserved": "on"})
    assert response.status_code == 302
    assert ProgressTask.objects.get().parameters["confirm_reserved"] is True


def test_noexecute_on_more_than_one_node_needs_the_drain_right(cluster, users):
    params = {"taints": NOEXECUTE, "confirm_reserved": True}
    operator = users["operator"]
    batches.start_batch(operator, cluster, "taint", params, names=["worker-0003"])  # one node: an operator may
    with pytest.raises(PermissionDenied, match="right to drain"):
        batches.start_batch(operator, cluster, "taint", params, names=["worker-0003", "worker-0004"])
    with pytest.raises(PermissionDenied):  # a template adding it through the label action
        batches.start_batch(operator, cluster, "label", {"set": {"a": "b"}, **params},
                            names=["worker-0003", "worker-0004"])
    assert ProgressTask.objects.count() == 1
    batches.start_batch(users["admin"], cluster, "taint", params, names=["worker-0003", "worker-0004"])
    # the page says so rather than failing
    response = _client(operator).post(ACTION, {"action": "taint", "targets": "worker-0003,worker-0004",
                                               "taints": "maintenance=yes:NoExecute", "confirm_reserved": "on",
                                               "submitted": "1", "confirm": "yes"})
    assert response.status_code == 400 and "right to drain" in response.content.decode()
    assert ProgressTask.objects.count() == 2


def test_a_noexecute_batch_cannot_be_retried_by_an_operator(cluster, users):
    task = finished_task(users["admin"], cluster.name, action="taint",
                         parameters={"taints": NOEXECUTE, "confirm_reserved": True})
    response = _client(users["admin"]).post(f"/progress/tasks/{task.pk}/retry/", {"which": "both"})
    assert response.status_code == 302
    own = finished_task(users["operator"], cluster.name, action="taint",
                        parameters={"taints": NOEXECUTE, "confirm_reserved": True})
    assert _client(users["operator"]).post(f"/progress/tasks/{own.pk}/retry/").status_code == 404
    assert ProgressTask.objects.filter(retry_of__isnull=False).count() == 1


def test_node_batch_needs_the_flag(cluster, users):
    args = ["node_batch", "--cluster", cluster.name, "--user", users["admin"].username, "--action", "taint",
            "--taint", "maintenance=yes:NoExecute", "--nodes", "worker-0005"]
    with pytest.raises(CommandError, match="confirm"):
        call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())
    call_command(*args, "--confirm-reserved", stdout=io.StringIO(), stderr=io.StringIO())
    assert ProgressTask.objects.get().parameters["confirm_reserved"] is True
