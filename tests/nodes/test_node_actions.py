"""Labels, taints, cordon/uncordon through run_node_action over real HTTP, with the audit trail and errors."""

import pytest
import yaml
from django.contrib.auth import get_user_model

from nodes import services
from nodes.models import AuditEntry
from tests.fixtures.services import free_port
from tests.nodes.conftest import core_api

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("operator", password="x")


def run(cluster, node, action, params, user, **kw):
    return services.run_node_action(cluster, node, action, params, user=user, **kw)


def test_label_set_overwrite_remove_with_audit(cluster, shared_sim, user):
    api = core_api(shared_sim.kubeconfig)
    out = run(cluster, "worker-0001", "label", {"set": {"team": "blue", "example.com/tier": "gold"}}, user,
              task_id="8b0f8a4e-0000-4000-8000-000000000001")
    assert out.ok and out.error == ""
    labels = api.read_node("worker-0001").metadata.labels
    assert labels["team"] == "blue" and labels["example.com/tier"] == "gold"
    out = run(cluster, "worker-0001", "label", {"set": {"team": "red"}, "remove": ["example.com/tier"]}, user)
    assert out.ok and out.detail == {"before": {"labels": {"example.com/tier": "gold", "team": "blue"}},
                                     "after": {"labels": {"example.com/tier": None, "team": "red"}}}
    labels = api.read_node("worker-0001").metadata.labels
    assert labels["team"] == "red" and "example.com/tier" not in labels
    out = run(cluster, "worker-0001", "unlabel", {"remove": ["team"]}, user)
    assert out.ok and "team" not in api.read_node("worker-0001").metadata.labels

    entries = list(AuditEntry.objects.filter(node="worker-0001").order_by("id"))
    assert [e.action for e in entries] == ["label", "label", "unlabel"]
    first = entries[0]
    assert first.user == user and first.username == "operator" and first.cluster == cluster
    assert first.cluster_name == "shared" and first.outcome == "succeeded"
    assert str(first.task_id) == "8b0f8a4e-0000-4000-8000-000000000001"
    assert first.after == {"labels": {"team": "blue", "example.com/tier": "gold"}}


@pytest.mark.parametrize("params,message", [
    ({"set": {"bad key!": "x"}}, "invalid label key"),
    ({"set": {"ok": "-bad-"}}, "invalid label value"),
    ({"set": {"kubernetes.io/hostname": "x"}}, "reserved"),
])
def test_bad_labels_change_nothing(cluster, shared_sim, user, params, message):
    api = core_api(shared_sim.kubeconfig)
    before = api.read_node("worker-0002").metadata
    out = run(cluster, "worker-0002", "label", params, user)
    assert not out.ok and message in out.error
    after = api.read_node("worker-0002").metadata
    assert after.labels == before.labels and after.resource_version == before.resource_version
    assert AuditEntry.objects.get(node="worker-0002").outcome == "failed"


def test_reserved_label_with_confirmation(cluster, shared_sim, user):
    out = run(cluster, "worker-0003", "label", {"set": {"node-role.kubernetes.io/gpu": ""},
                                                "confirm_reserved": True}, user)
    assert out.ok
    assert core_api(shared_sim.kubeconfig).read_node("worker-0003").metadata.labels["node-role.kubernetes.io/gpu"] == ""


def test_taints_add_update_remove(cluster, shared_sim, user):
    api = core_api(shared_sim.kubeconfig)

    def taints():
        return sorted((t.key, t.value, t.effect) for t in api.read_node("worker-0004").spec.taints or [])

    start = taints()
    out = run(cluster, "worker-0004", "taint", {"taints": [
        {"key": "dedicated", "value": "db", "effect": "NoSchedule"},
        {"key": "dedicated", "value": "db", "effect": "NoExecute"}]}, user)
    assert out.ok, out.error
    assert ("dedicated", "db", "NoSchedule") in taints() and ("dedicated", "db", "NoExecute") in taints()
    # same key+effect: the value is replaced, never duplicated
    out = run(cluster, "worker-0004", "taint", {"taints": [{"key": "dedicated", "value": "web",
                                                           "effect": "NoSchedule"}]}, user)
    assert out.ok
    assert [t for t in taints() if t[0] == "dedicated" and t[2] == "NoSchedule"] == [
        ("dedicated", "web", "NoSchedule")]
    assert "dedicated=web:NoSchedule" in out.detail["after"]["taints"]
    out = run(cluster, "worker-0004", "untaint", {"taints": [{"key": "dedicated", "effect": "NoExecute"}]}, user)
    assert out.ok and ("dedicated", "db", "NoExecute") not in taints()
    out = run(cluster, "worker-0004", "untaint", {"taints": [{"key": "dedicated"}]}, user)
    assert out.ok and taints() == start
    out = run(cluster, "worker-0004", "untaint", {"taints": [{"key": "dedicated"}]}, user)
    assert not out.ok and "taint dedicated not found on node worker-0004" in out.error


@pytest.mark.parametrize("taints,message", [
    ([{"key": "k", "value": "v", "effect": "Sometimes"}], "invalid taint effect 'Sometimes'"),
    ([{"key": "k", "effect": "NoSchedule"}, {"key": "k", "value": "x", "effect": "NoSchedule"}], "duplicate taint"),
    ([{"key": "", "effect": "NoSchedule"}], "invalid taint key"),
])
def test_bad_taints_change_nothing(cluster, shared_sim, user, taints, message):
    api = core_api(shared_sim.kubeconfig)
    rv = api.read_node("worker-0005").metadata.resource_version
    out = run(cluster, "worker-0005", "taint", {"taints": taints}, user)
    assert not out.ok and message in out.error
    assert api.read_node("worker-0005").metadata.resource_version == rv


def test_cordon_with_reason_and_uncordon(cluster, shared_sim, user):
    api = core_api(shared_sim.kubeconfig)
    out = run(cluster, "worker-0006", "cordon", {"reason": "disk replacement"}, user)
    assert out.ok
    node = api.read_node("worker-0006")
    assert node.spec.unschedulable is True
    ann = node.metadata.annotations
    assert ann["kubenode.io/cordon-reason"] == "disk replacement" and ann["kubenode.io/cordoned-by"] == "operator"
    assert ann["kubenode.io/cordoned-at"].endswith("Z")
    entry = AuditEntry.objects.get(node="worker-0006", action="cordon")
    assert entry.reason == "disk replacement" and entry.before["unschedulable"] is False
    assert entry.after["unschedulable"] is True

    out = run(cluster, "worker-0006", "uncordon", {}, user)
    assert out.ok
    node = api.read_node("worker-0006")
    assert not node.spec.unschedulable
    assert not any(k.startswith("kubenode.io/") for k in node.metadata.annotations or {})


def test_unknown_node(cluster, user):
    out = run(cluster, "no-such-node", "cordon", {}, user)
    assert not out.ok and out.error == "node 'no-such-node' not found in cluster shared"
    assert AuditEntry.objects.get(node="no-such-node").error == out.error


def test_forbidden_for_viewer(shared_sim, user):
    viewer = services.import_cluster("viewer", shared_sim.kubeconfig_text, context="viewer")
    out = run(viewer, "worker-0007", "label", {"set": {"a": "b"}}, user)
    assert not out.ok and out.error.startswith("HTTP 403 forbidden: ")
    assert 'cannot patch resource "nodes"' in out.error and "\n" not in out.error
    assert "a" not in core_api(shared_sim.kubeconfig).read_node("worker-0007").metadata.labels


def test_bad_token_is_401(shared_sim, user):
    doc = yaml.safe_load(shared_sim.kubeconfig_text)
    doc["users"][0]["user"]["token"] = "wrong"
    bad = services.import_cluster("bad", yaml.safe_dump(doc))
    out = run(bad, "worker-0007", "cordon", {}, user)
    assert not out.ok and out.error.startswith("HTTP 401 unauthorized") and "wrong" not in out.error


def test_unreachable_cluster(shared_sim, user):
    doc = yaml.safe_load(shared_sim.kubeconfig_text)
    port = free_port()
    doc["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{port}"
    gone = services.import_cluster("gone", yaml.safe_dump(doc))
    out = run(gone, "worker-0001", "cordon", {"reason": "x"}, user)
    assert not out.ok
    assert out.error == f"cannot reach the API server http://127.0.0.1:{port}: connection refused"
    assert AuditEntry.objects.get(cluster_name="gone").outcome == "failed"


def test_conflict_storm_is_retried(kube_sim, db, user):
    sim = kube_sim(nodes=8, conflict_rate=0.5, seed=3)
    cluster = services.import_cluster("storm", sim.kubeconfig_text)
    api = core_api(sim.kubeconfig)
    nodes = [f"worker-000{i}" for i in range(1, 6)]
    for node in nodes:
        assert run(cluster, node, "taint", {"taints": [{"key": "storm", "value": "1", "effect": "NoSchedule"}]},
                   user).ok
        assert run(cluster, node, "label", {"set": {"storm": "yes"}}, user).ok
        assert run(cluster, node, "cordon", {"reason": "storm"}, user).ok
    for node in nodes:
        obj = api.read_node(node)
        assert obj.metadata.labels["storm"] == "yes" and obj.spec.unschedulable
        assert [(t.key, t.effect) for t in obj.spec.taints].count(("storm", "NoSchedule")) == 1


def test_conflicts_beyond_the_bound_fail_clearly(kube_sim, db, user):
    sim = kube_sim(nodes=4, conflict_rate=1.0)
    cluster = services.import_cluster("always", sim.kubeconfig_text)
    out = run(cluster, "worker-0001", "cordon", {}, user)
    assert not out.ok and out.error.startswith("HTTP 409 conflict: Operation cannot be fulfilled on nodes")
    assert "still conflicting after 8 attempts" in out.error


def test_server_errors_are_one_line(kube_sim, db, user):
    sim = kube_sim(nodes=4, fail_rate=1.0)
    cluster = services.import_cluster("failing", sim.kubeconfig_text)
    out = run(cluster, "worker-0001", "label", {"set": {"a": "b"}}, user)
    assert not out.ok and out.error.startswith("HTTP 500 internal server error: ") and "\n" not in out.error


def test_server_side_422_is_surfaced(cluster):
    """Client-side validation normally stops bad keys; the access layer still reports the server's 422."""
    from nodes.kube import KubeError
    from nodes.kube import client as kube_client
    from nodes.kube import nodes as node_ops

    with pytest.raises(KubeError) as err:
        node_ops.change_labels(kube_client.for_cluster(cluster), "worker-0008", {"bad key": "v"}, [])
    assert err.value.status == 422 and str(err.value).startswith("HTTP 422 invalid: ")
    assert "bad key" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.django_db(transaction=True)
def test_concurrent_actions_share_one_client(cluster, shared_sim, user):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    nodes = [f"worker-00{i:02d}" for i in range(12, 20)]

    def cordon(node):
        try:
            return run(cluster, node, "cordon", {"reason": "parallel"}, user)
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(cordon, nodes))
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    api = core_api(shared_sim.kubeconfig)
    assert all(api.read_node(n).spec.unschedulable for n in nodes)
    assert AuditEntry.objects.filter(node__in=nodes, outcome="succeeded", reason="parallel").count() == 8


def test_reimport_replaces_the_cached_client(shared_sim, user):
    cluster = services.import_cluster("swap", shared_sim.kubeconfig_text)
    assert run(cluster, "worker-0020", "label", {"set": {"swap": "1"}}, user).ok
    cluster = services.import_cluster("swap", shared_sim.kubeconfig_text, context="viewer")
    out = run(cluster, "worker-0020", "label", {"set": {"swap": "2"}}, user)
    assert not out.ok and out.error.startswith("HTTP 403 forbidden")


def test_in_cluster_outside_a_pod(monkeypatch, db):
    from django.core.exceptions import ValidationError

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ValidationError, match="not running inside a Kubernetes pod"):
        services.import_in_cluster("incluster")
