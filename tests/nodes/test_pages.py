"""Operator pages through the Django test client against the simulator: listing, detail, roles, bad input."""
import pytest
from django.contrib.auth.models import Group, User

from nodes.models import AuditEntry
from progress.models import ProgressTask

pytestmark = pytest.mark.django_db


def _user(name, group=None, staff=False):
    u = User.objects.create_user(name, password="pw", is_staff=staff)
    if group:
        u.groups.add(Group.objects.get_or_create(name=group)[0])
    return u


@pytest.fixture
def viewer_client(client):
    client.force_login(_user("viewer", "viewer"))
    return client


@pytest.fixture
def operator_client(client):
    client.force_login(_user("op", "operator"))
    return client


def test_cluster_and_node_list(viewer_client, cluster):
    r = viewer_client.get("/clusters/")
    assert r.status_code == 200 and b"shared" in r.content
    r = viewer_client.get("/clusters/shared/nodes/")
    assert r.status_code == 200
    assert r.context["total"] == 30
    assert b'name="node"' not in r.content  # viewer: no selection, no action controls
    assert b"Preview" not in r.content


def test_bad_selector_is_a_clear_message(viewer_client, cluster):
    r = viewer_client.get("/clusters/shared/nodes/", {"selector": "a in (("})
    assert r.status_code == 200
    assert "Invalid label selector" in r.context["error"]
    assert r.context["total"] == 0


def test_search_and_status_filter(viewer_client, cluster):
    r = viewer_client.get("/clusters/shared/nodes/", {"q": "no-such-node-xyz"})
    assert r.context["total"] == 0
    r = viewer_client.get("/clusters/shared/nodes/", {"status": "Ready"})
    assert 0 < r.context["total"] <= 30
    assert all(n.status == "Ready" for n in r.context["page"])


def test_node_detail_and_missing_node(viewer_client, cluster):
    name = viewer_client.get("/clusters/shared/nodes/").context["page"][0].name
    r = viewer_client.get(f"/clusters/shared/nodes/{name}/")
    assert r.status_code == 200 and r.context["node"].name == name
    r = viewer_client.get("/clusters/shared/nodes/no-such-node/")
    assert r.status_code == 404 and b"not found" in r.content


def test_viewer_cannot_post_a_mutation(viewer_client, cluster):
    r = viewer_client.post("/clusters/shared/nodes/action/", {"action": "cordon", "node": ["x"], "confirm": "yes"})
    assert r.status_code == 403
    assert ProgressTask.objects.count() == 0


def test_operator_cannot_drain(operator_client, cluster):
    r = operator_client.post("/clusters/shared/nodes/action/", {"action": "drain", "node": ["x"]})
    assert r.status_code == 403


def test_label_preview_then_confirm_creates_task(operator_client, cluster):
    names = [n.name for n in operator_client.get("/clusters/shared/nodes/").context["page"]][:3]
    r = operator_client.post("/clusters/shared/nodes/action/", {"action": "label", "node": names,
                                                                 "set": "team=blue"})
    assert r.status_code == 200 and len(r.context["diff"]) == 3
    assert all(d["changes"] == [("team", None, "blue")] for d in r.context["diff"])
    assert ProgressTask.objects.count() == 0
    r = operator_client.post("/clusters/shared/nodes/action/", {"action": "label", "node": names, "set": "team=blue",
                                                                 "confirm": "yes", "concurrency": "2"})
    assert r.status_code == 302
    task = ProgressTask.objects.get()
    assert task.total == 3 and task.concurrency == 2 and task.action == "label"


def test_bad_label_changes_nothing(operator_client, cluster):
    r = operator_client.post("/clusters/shared/nodes/action/", {"action": "label", "node": ["x"],
                                                                 "set": "bad key!=v", "confirm": "yes"})
    assert r.status_code == 400 and r.context["error"]
    assert ProgressTask.objects.count() == 0 and AuditEntry.objects.count() == 0


def test_audit_log_page(viewer_client):
    AuditEntry.objects.create(username="alice", cluster_name="c", node="audited-node-n1", action="cordon",
                              outcome="succeeded")
    r = viewer_client.get("/audit/", {"user": "alice"})
    assert r.status_code == 200 and b"audited-node-n1" in r.content
    r = viewer_client.get("/audit/", {"user": "bob"})
    assert b"audited-node-n1" not in r.content


def test_template_applies_its_labels(operator_client, cluster):
    from nodes.models import LabelTaintTemplate

    t = LabelTaintTemplate.objects.create(name="gpu-pool", labels={"pool": "gpu"})
    name = operator_client.get("/clusters/shared/nodes/").context["page"][1].name
    r = operator_client.post("/clusters/shared/nodes/action/", {"action": "label", "node": [name],
                                                                 "template": str(t.pk)})
    assert r.status_code == 200 and r.context["diff"][0]["changes"] == [("pool", None, "gpu")]
    r = operator_client.post("/clusters/shared/nodes/action/", {"action": "cordon", "node": [name],
                                                                 "template": str(t.pk)})
    assert r.status_code == 400 and "template" in r.context["error"]


def test_roles_exist_with_permissions(db):
    from django.contrib.auth.models import Group

    assert Group.objects.get(name="operator").permissions.filter(codename="operate_nodes").exists()
    assert Group.objects.get(name="admin").permissions.filter(codename="drain_nodes").exists()
    assert not Group.objects.get(name="viewer").permissions.filter(codename="operate_nodes").exists()


def test_all_clusters_page(viewer_client, cluster):
    r = viewer_client.get("/nodes/", {"sort": "status"})
    assert r.status_code == 200 and r.context["total"] == 30
    r = viewer_client.get("/nodes/", {"selector": "=bad="})
    assert r.status_code == 200 and r.context["errors"]


def test_select_all_matching_posts_the_filter(operator_client, cluster):
    ready = operator_client.get("/clusters/shared/nodes/", {"status": "Ready"}).context["total"]
    r = operator_client.post("/clusters/shared/nodes/action/", {"action": "cordon", "select_all": "on",
                                                                 "status": "Ready", "reason": "maintenance"})
    assert r.status_code == 200 and r.context["count"] == ready
    r = operator_client.post("/clusters/shared/nodes/action/", {"action": "cordon", "select_all": "on",
                                                                 "q": "no-such-node"})
    assert r.status_code == 400 and "no node matches" in r.context["error"]
