"""Our operations end to end (nodes.services over a Cluster imported from the backend's kubeconfig), on both
backends: labels, taints, cordon/uncordon with reasons, drain honouring a PodDisruptionBudget, the drain
preview, 409 retries under concurrent writers, 403 for the read-only viewer and for a user with no rights at all."""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from nodes import services
from nodes.kube import client as kube_client
from nodes.kube.nodes import ANN_BY, ANN_REASON
from nodes.models import AuditEntry

pytestmark = [pytest.mark.contract, pytest.mark.django_db]


@pytest.fixture
def user(db):
    return get_user_model().objects.get_or_create(username="operator")[0]


@pytest.fixture
def cluster(backend, unique, db):
    with open(backend.kubeconfig) as f:
        return services.import_cluster(f"{backend.name}-{unique}", f.read(), simulated=backend.name == "simulator")


@pytest.fixture
def viewer_cluster(backend, unique, db):
    with open(backend.viewer_kubeconfig) as f:
        return services.import_cluster(f"{backend.name}-{unique}-viewer", f.read(),
                                       simulated=backend.name == "simulator")


@pytest.fixture
def nobody_cluster(backend, unique, db):
    with open(backend.nobody_kubeconfig) as f:
        return services.import_cluster(f"{backend.name}-{unique}-nobody", f.read(),
                                       simulated=backend.name == "simulator")


def node_of(backend, name):
    return backend.admin.ok("GET", f"/api/v1/nodes/{name}")


def test_check_cluster_reports_permissions(backend, cluster, viewer_cluster):
    admin = services.check_cluster(cluster)
    assert admin.ok and admin.authenticated and admin.server_version
    assert (admin.can_list_nodes, admin.can_patch_nodes, admin.can_evict_pods) == ("yes", "yes", "yes")
    viewer = services.check_cluster(viewer_cluster)
    assert viewer.ok and (viewer.can_list_nodes, viewer.can_patch_nodes, viewer.can_evict_pods) == ("yes", "no", "no")


def test_eviction_version_chosen_by_discovery(backend, cluster):
    kube = kube_client.for_cluster(cluster)
    if backend.name == "kube-apiserver":  # 1.20: Eviction and PodDisruptionBudget only in policy/v1beta1
        assert (kube.eviction_version(), kube.policy_version()) == ("policy/v1beta1", "policy/v1beta1")
    else:
        assert (kube.eviction_version(), kube.policy_version()) == ("policy/v1", "policy/v1")


def test_labels_add_overwrite_remove(backend, cluster, user, unique):
    name = f"{unique}-n"
    backend.admin.create_node(name, labels={"old": "x", "keep": "1"})
    out = services.run_node_action(cluster, name, "label", {"set": {"team": "blue", "old": "y"},
                                                            "remove": ["keep"]}, user=user)
    assert out.ok, out.error
    assert out.detail == {"before": {"labels": {"keep": "1", "old": "x", "team": None}},
                          "after": {"labels": {"keep": None, "old": "y", "team": "blue"}}}
    labels = node_of(backend, name)["metadata"]["labels"]
    assert labels["team"] == "blue" and labels["old"] == "y" and "keep" not in labels
    out = services.run_node_action(cluster, name, "unlabel", {"remove": ["team"]}, user=user)
    assert out.ok, out.error
    assert "team" not in node_of(backend, name)["metadata"]["labels"]
    entries = AuditEntry.objects.filter(cluster=cluster, node=name).order_by("id")
    assert [(e.action, e.outcome) for e in entries] == [("label", "succeeded"), ("unlabel", "succeeded")]


def test_taints_add_update_remove(backend, cluster, user, unique):
    name = f"{unique}-n"
    backend.admin.create_node(name)
    out = services.run_node_action(cluster, name, "taint", {"taints": [
        {"key": "dedicated", "value": "db", "effect": "NoSchedule"},
        {"key": "maintenance", "effect": "NoExecute"}]}, user=user)
    assert out.ok, out.error
    taints = node_of(backend, name)["spec"]["taints"]
    assert [(t["key"], t.get("value"), t["effect"]) for t in taints] == [
        ("dedicated", "db", "NoSchedule"), ("maintenance", None, "NoExecute")]
    assert taints[1]["timeAdded"]  # kept by the server as sent
    out = services.run_node_action(cluster, name, "taint", {"taints": [
        {"key": "dedicated", "value": "web", "effect": "NoSchedule"}]}, user=user)
    assert out.ok and out.detail["after"] == {"taints": ["dedicated=web:NoSchedule", "maintenance:NoExecute"]}
    out = services.run_node_action(cluster, name, "untaint", {"taints": [{"key": "maintenance"}]}, user=user)
    assert out.ok, out.error
    assert [t["key"] for t in node_of(backend, name)["spec"]["taints"]] == ["dedicated"]
    out = services.run_node_action(cluster, name, "untaint", {"taints": [{"key": "dedicated", "effect": "NoSchedule"}]},
                                   user=user)
    assert out.ok and not node_of(backend, name)["spec"].get("taints")
    out = services.run_node_action(cluster, name, "untaint", {"taints": [{"key": "absent"}]}, user=user)
    assert not out.ok and out.error == f"taint absent not found on node {name}"


def test_server_422_reaches_the_access_layer_as_one_line(backend, cluster, unique):
    """Our validation stops a bad effect before any call; written through the access layer directly, the
    server's 422 comes back as one clear line."""
    from nodes.kube import KubeError
    from nodes.kube import nodes as node_ops

    name = f"{unique}-n"
    backend.admin.create_node(name)
    kube = kube_client.for_cluster(cluster)
    with pytest.raises(KubeError) as err:
        node_ops.add_taints(kube, name, [{"key": "a", "effect": "Sometimes"}])
    assert err.value.status == 422 and str(err.value).startswith("HTTP 422 invalid: ")
    assert "\n" not in str(err.value)


def test_cordon_with_reason_and_uncordon(backend, cluster, user, unique):
    name = f"{unique}-n"
    backend.admin.create_node(name)
    out = services.run_node_action(cluster, name, "cordon", {"reason": "disk  replacement"}, user=user)
    assert out.ok, out.error
    node = node_of(backend, name)
    assert node["spec"]["unschedulable"] is True
    annotations = node["metadata"]["annotations"]
    assert annotations[ANN_REASON] == "disk replacement" and annotations[ANN_BY] == "operator"
    assert out.detail["before"] == {"unschedulable": False} and out.detail["after"]["unschedulable"] is True
    out = services.run_node_action(cluster, name, "uncordon", {}, user=user)
    assert out.ok, out.error
    node = node_of(backend, name)
    assert "unschedulable" not in node["spec"]  # false is omitted by the server
    assert not set(node["metadata"].get("annotations") or {}) & {ANN_REASON, ANN_BY}
    assert out.detail["after"] == {"unschedulable": False}
    entry = AuditEntry.objects.get(cluster=cluster, node=name, action="cordon")
    assert entry.reason == "disk replacement" and entry.outcome == "succeeded"


def test_missing_node_is_a_clear_outcome(backend, cluster, user, unique):
    out = services.run_node_action(cluster, f"{unique}-gone", "cordon", {}, user=user)
    assert not out.ok and out.error == f"node '{unique}-gone' not found in cluster {cluster.name}"


def test_viewer_gets_403_per_node(backend, viewer_cluster, user, unique):
    names = [f"{unique}-a", f"{unique}-b"]
    for name in names:
        backend.admin.create_node(name)
    for name, action, params in [(names[0], "label", {"set": {"x": "1"}}), (names[1], "cordon", {"reason": "r"}),
                                 (names[0], "taint", {"taints": [{"key": "k", "effect": "NoSchedule"}]}),
                                 (names[1], "drain", {"timeout": 5})]:
        out = services.run_node_action(viewer_cluster, name, action, params, user=user)
        assert not out.ok
        assert out.error.startswith(f'HTTP 403 forbidden: nodes "{name}" is forbidden: User "viewer" cannot patch '
                                    'resource "nodes" in API group "" at the cluster scope'), out.error
        assert "left cordoned" not in out.error  # the drain stopped at its first write
    assert not (node_of(backend, names[1])["spec"].get("unschedulable"))
    failed = AuditEntry.objects.filter(cluster=viewer_cluster, outcome="failed")
    assert failed.count() == 4 and all(e.error.startswith("HTTP 403 forbidden") for e in failed)



def test_check_cluster_reports_no_permissions(backend, nobody_cluster):
    """Reachable and authenticated, but may do nothing: the check fails and says why."""
    check = services.check_cluster(nobody_cluster)
    assert not check.ok and check.reachable and check.authenticated is True and check.server_version
    assert (check.can_list_nodes, check.can_patch_nodes, check.can_evict_pods) == ("no", "no", "no")
    assert check.node_count is None and check.error == "the credentials may not list nodes"
    assert check.message == (f"reachable, Kubernetes {check.server_version}; may list nodes: no, patch nodes: no, "
                             "create pods/eviction: no; the credentials may not list nodes")
    assert nobody_cluster.last_check_ok is False and nobody_cluster.last_check_message == check.message


def test_nobody_gets_403_per_node(backend, nobody_cluster, user, unique):
    """Every action stops at its first read of the node with a clear 403, for a node that exists as for one
    that does not (a denied request learns nothing); nothing changes and each failure is audited."""
    name, gone = f"{unique}-a", f"{unique}-gone"
    backend.admin.create_node(name)
    for node in (name, gone):
        for action, params in [("label", {"set": {"x": "1"}}), ("unlabel", {"remove": ["x"]}),
                               ("taint", {"taints": [{"key": "k", "effect": "NoSchedule"}]}),
                               ("untaint", {"taints": [{"key": "k"}]}), ("cordon", {"reason": "r"}),
                               ("uncordon", {}), ("drain", {"timeout": 5})]:
            out = services.run_node_action(nobody_cluster, node, action, params, user=user)
            assert not out.ok and out.node == node
            assert out.error.startswith(f'HTTP 403 forbidden: nodes "{node}" is forbidden: User "nobody" cannot '
                                        f'get resource "nodes" in API group "" at the cluster scope'), (action,
                                                                                                        out.error)
            assert "not found" not in out.error and "left cordoned" not in out.error
    from nodes.kube import KubeError

    with pytest.raises(KubeError) as err:  # the preview reads the budgets first: one error for the whole preview
        services.drain_plan(nobody_cluster, [name], {})
    assert err.value.status == 403 and str(err.value) == (
        'HTTP 403 forbidden: poddisruptionbudgets.policy is forbidden: User "nobody" cannot list resource '
        '"poddisruptionbudgets" in API group "policy" at the cluster scope')
    node = node_of(backend, name)
    assert not node["spec"].get("unschedulable") and not node["spec"].get("taints")
    assert "x" not in node["metadata"]["labels"]
    failed = AuditEntry.objects.filter(cluster=nobody_cluster, outcome="failed")
    assert failed.count() == 14 and all(e.error.startswith("HTTP 403 forbidden") for e in failed)

@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_are_retried_on_409(backend, cluster, user, unique):
    """Five writers add one taint each to one node at once. Taints are written back as a whole list guarded by
    the resourceVersion, so every writer either wins or gets 409, re-reads and retries: none is lost."""
    name = f"{unique}-n"
    backend.admin.create_node(name)
    start = threading.Barrier(5)

    def add(i):
        try:
            start.wait()
            return services.run_node_action(cluster, name, "taint", {"taints": [
                {"key": f"writer-{i}", "effect": "NoSchedule"}]}, user=user)
        finally:
            connection.close()

    with ThreadPoolExecutor(5) as pool:
        outcomes = list(pool.map(add, range(5)))
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    keys = sorted(t["key"] for t in node_of(backend, name)["spec"]["taints"])
    assert keys == [f"writer-{i}" for i in range(5)]


def test_stale_resource_version_is_409_then_reread(backend, cluster, unique):
    """The access layer's write carries the resourceVersion it read: a stale one is refused with 409."""
    from nodes.kube import KubeError
    from nodes.kube.client import SMP
    from nodes.kube.nodes import node_path

    name = f"{unique}-n"
    node = backend.admin.create_node(name)
    backend.admin.ok("PATCH", f"/api/v1/nodes/{name}", {"metadata": {"labels": {"bump": "1"}}},
                     content_type="application/merge-patch+json")
    kube = kube_client.for_cluster(cluster)
    with pytest.raises(KubeError) as err:
        kube.request("PATCH", node_path(name), content_type=SMP, body={
            "metadata": {"resourceVersion": node["metadata"]["resourceVersion"], "labels": {"x": "1"}}})
    assert err.value.status == 409 and err.value.reason == "Conflict"
    assert str(err.value).startswith(f'HTTP 409 conflict: Operation cannot be fulfilled on nodes "{name}": ')


# ---- drain ----------------------------------------------------------------------------------------------

def drain_setup(backend, unique):
    """A node with two ReplicaSet pods guarded by a budget that allows nothing yet, a DaemonSet pod, and a
    ReplicaSet pod with emptyDir data; a second node keeps the rest of the DaemonSet."""
    ns, node = unique, f"{unique}-n"
    backend.admin.create_node(node)
    backend.admin.create_node(f"{unique}-other")
    backend.admin.create_replica(ns, "web-1", node, {"app": "web"})
    backend.admin.create_replica(ns, "web-2", node, {"app": "web"})
    backend.admin.create_replica(ns, "cache-1", node, {"app": "cache"}, replicaset="cache", emptydir=True)
    backend.admin.create_daemonset(ns, "agent", [node, f"{unique}-other"])
    backend.admin.create_pdb(ns, "web", {"app": "web"})
    return ns, node


def pods_on(backend, node):
    return sorted(p["metadata"]["name"] for p in backend.admin.ok(
        "GET", "/api/v1/pods", fieldSelector=f"spec.nodeName={node}")["items"])


def test_drain_preview_changes_nothing(backend, cluster, unique):
    ns, node = drain_setup(backend, unique)
    backend.admin.create_pod(ns, "debug", node, {"app": "debug"})
    before = pods_on(backend, node)
    [plan] = services.drain_plan(cluster, [node], {"ignore_daemonsets": True})
    assert plan["error"] == "" and plan["ok"] is False
    assert [e["name"] for e in plan["evict"]] == []
    assert {e["name"]: e["reason"] for e in plan["skip"]} == {f"agent-{node}": "DaemonSet-managed"}
    assert {e["name"]: e["reason"] for e in plan["blocked"]} == {
        "web-1": f"PodDisruptionBudget {ns}/web allows no disruption now",
        "web-2": f"PodDisruptionBudget {ns}/web allows no disruption now",
        "cache-1": "uses emptyDir local data (use delete_emptydir_data)",
        "debug": "not managed by a controller (use force)"}
    backend.admin.set_pdb_allowed(ns, "web", 1, healthy=2)
    [plan] = services.drain_plan(cluster, [node], {"ignore_daemonsets": True, "delete_emptydir_data": True,
                                                   "force": True})
    assert sorted(e["name"] for e in plan["evict"]) == ["cache-1", "debug", "web-1"]
    assert {e["name"]: e["reason"] for e in plan["blocked"]} == {
        "web-2": f"PodDisruptionBudget {ns}/web allows no disruption now"}
    [missing] = services.drain_plan(cluster, [f"{unique}-gone"], {})
    assert missing["error"] == f"node '{unique}-gone' not found in cluster {cluster.name}"
    assert pods_on(backend, node) == before and not node_of(backend, node)["spec"].get("unschedulable")


def test_drain_waits_on_429_until_the_budget_allows(backend, cluster, user, unique):
    ns, node = drain_setup(backend, unique)
    calls = []

    def should_stop():
        """The drain asks this between its passes: after the first pass (429s), the budget starts allowing,
        as the disruption controller would once replacements are healthy elsewhere."""
        calls.append(1)
        if len(calls) == 2:
            backend.admin.set_pdb_allowed(ns, "web", 2, healthy=2)
        return False

    out = services.run_node_action(cluster, node, "drain", {
        "reason": "kernel upgrade", "ignore_daemonsets": True, "delete_emptydir_data": True, "timeout": 60},
        user=user, should_stop=should_stop)
    assert out.ok, out.error
    report = {p["name"]: p for p in out.detail["pods"]}
    assert {n: p["action"] for n, p in report.items()} == {
        "web-1": "evicted", "web-2": "evicted", "cache-1": "evicted", f"agent-{node}": "skipped"}
    assert report["web-1"]["attempts"] >= 2 and report["cache-1"]["attempts"] == 1
    assert pods_on(backend, node) == [f"agent-{node}"]
    assert node_of(backend, node)["metadata"]["annotations"][ANN_REASON] == "kernel upgrade"
    entry = AuditEntry.objects.get(cluster=cluster, node=node, action="drain")
    assert entry.outcome == "succeeded" and len(entry.after["pods"]) == 4


def test_drain_blocked_by_budget_times_out_cordoned(backend, cluster, user, unique):
    ns, node = drain_setup(backend, unique)
    out = services.run_node_action(cluster, node, "drain", {
        "ignore_daemonsets": True, "delete_emptydir_data": True, "timeout": 6}, user=user)
    assert not out.ok
    assert out.error == (f"drain of {node} timed out after 6s: 2 blocked ({ns}/web-1, {ns}/web-2); "
                         "node left cordoned")
    report = {p["name"]: p for p in out.detail["pods"]}
    assert "disruption budget" in report["web-1"]["reason"] and report["web-1"]["action"] == "blocked"
    assert report["cache-1"]["action"] == "evicted"
    assert node_of(backend, node)["spec"]["unschedulable"] is True
    assert pods_on(backend, node) == sorted([f"agent-{node}", "web-1", "web-2"])


def test_drain_refuses_daemonset_pods_without_the_flag(backend, cluster, user, unique):
    ns, node = drain_setup(backend, unique)
    out = services.run_node_action(cluster, node, "drain", {"delete_emptydir_data": True, "timeout": 10,
                                                            "ignore_daemonsets": False}, user=user)
    assert not out.ok
    assert out.error == (f"cannot drain {node}: 1 pod(s) refused — {ns}/agent-{node}: DaemonSet-managed "
                         "(use ignore_daemonsets); node left cordoned")
    assert len(pods_on(backend, node)) == 4
