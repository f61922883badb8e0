"""Drain with kubectl's semantics and the dry-run plan, over real HTTP against the simulator."""

import pytest
from django.contrib.auth import get_user_model

from nodes import services
from nodes.models import AuditEntry
from tests.nodes.conftest import core_api

pytestmark = pytest.mark.django_db

FAST = {"ignore_daemonsets": True, "delete_emptydir_data": True, "grace_period": 0, "timeout": 30}


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("drainer", password="x")


@pytest.fixture
def sim(kube_sim, db):
    sim = kube_sim(nodes=14, seed=11)
    sim.cluster = services.import_cluster("drain", sim.kubeconfig_text, simulated=True)
    sim.api = core_api(sim.kubeconfig)
    return sim


def pods_by_node(api) -> dict[str, list]:
    out: dict[str, list] = {}
    for pod in api.list_pod_for_all_namespaces().items:
        out.setdefault(pod.spec.node_name, []).append(pod)
    return out


def owner_kind(pod):
    return next((o.kind for o in pod.metadata.owner_references or [] if o.controller), "")


def unmanaged(pod):
    return not owner_kind(pod) and "kubernetes.io/config.mirror" not in (pod.metadata.annotations or {})


def find_node(api, *, ledger: bool, debug: bool | None = False) -> str:
    for node, pods in sorted(pods_by_node(api).items()):
        if not node or not node.startswith("worker"):
            continue
        has_ledger = any(p.metadata.name.startswith("ledger-") for p in pods)
        has_unmanaged = any(unmanaged(p) and p.status.phase == "Running" for p in pods)
        has_replicas = any(owner_kind(p) == "ReplicaSet" for p in pods)
        if has_ledger == ledger and debug in (None, has_unmanaged) and has_replicas:
            return node
    pytest.fail(f"the simulated cluster has no worker with ledger={ledger} debug={debug}")


def test_drain_succeeds_with_per_pod_report(sim, user):
    node = find_node(sim.api, ledger=False)
    before = pods_by_node(sim.api)[node]
    out = services.run_node_action(sim.cluster, node, "drain", {**FAST, "reason": "kernel 6.8"}, user=user)
    assert out.ok, out.error
    assert sim.api.read_node(node).spec.unschedulable is True
    left = pods_by_node(sim.api).get(node, [])
    assert all(owner_kind(p) == "DaemonSet" or p.status.phase in ("Succeeded", "Failed") for p in left)
    report = {f"{p['namespace']}/{p['name']}": p for p in out.detail["pods"]}
    for pod in before:
        entry = report[f"{pod.metadata.namespace}/{pod.metadata.name}"]
        if owner_kind(pod) == "DaemonSet":
            assert entry["action"] == "skipped" and entry["reason"] == "DaemonSet-managed"
        elif pod.status.phase in ("Succeeded", "Failed"):
            assert entry["action"] == "skipped" and entry["reason"].startswith("finished")
        else:
            assert entry["action"] == "evicted", entry
    audit = AuditEntry.objects.get(node=node, action="drain")
    assert audit.outcome == "succeeded" and audit.reason == "kernel 6.8"
    assert audit.after["unschedulable"] is True and len(audit.after["pods"]) == len(before)
    assert sim.api.read_node(node).metadata.annotations["kubenode.io/cordon-reason"] == "kernel 6.8"


def test_drain_blocked_by_pdb_times_out_naming_the_pods(sim, user):
    node = find_node(sim.api, ledger=True)
    ledger = [p.metadata.name for p in pods_by_node(sim.api)[node] if p.metadata.name.startswith("ledger-")]
    out = services.run_node_action(sim.cluster, node, "drain", {**FAST, "timeout": 3}, user=user)
    assert not out.ok
    assert out.error.startswith(f"drain of {node} timed out after 3s: ") and "node left cordoned" in out.error
    for name in ledger:
        assert f"payments/{name}" in out.error
    blocked = [p for p in out.detail["pods"] if p["action"] == "blocked"]
    assert sorted(p["name"] for p in blocked) == sorted(ledger)
    assert all("disruption budget" in p["reason"].lower() for p in blocked)
    assert all(p["attempts"] >= 1 for p in blocked)
    # the PDB was honoured: the ledger pods still run, the node stays cordoned
    still = {p.metadata.name for p in pods_by_node(sim.api)[node]}
    assert set(ledger) <= still and sim.api.read_node(node).spec.unschedulable
    assert AuditEntry.objects.get(node=node, action="drain").outcome == "failed"


def test_drain_refuses_daemonsets_without_flag(sim, user):
    node = find_node(sim.api, ledger=False)
    names = sorted(p.metadata.name for p in pods_by_node(sim.api)[node])
    out = services.run_node_action(sim.cluster, node, "drain", {"grace_period": 0, "delete_emptydir_data": True,
                                                                "ignore_daemonsets": False, "timeout": 10}, user=user)
    assert not out.ok and "DaemonSet-managed (use ignore_daemonsets)" in out.error
    assert out.error.startswith(f"cannot drain {node}: ") and "node left cordoned" in out.error
    assert sorted(p.metadata.name for p in pods_by_node(sim.api)[node]) == names  # nothing evicted
    assert sim.api.read_node(node).spec.unschedulable


def test_unmanaged_pods_need_force(sim, user):
    node = find_node(sim.api, ledger=False, debug=True)
    out = services.run_node_action(sim.cluster, node, "drain", FAST, user=user)
    assert not out.ok and "not managed by a controller (use force)" in out.error and "default/debug-shell-" in out.error
    out = services.run_node_action(sim.cluster, node, "drain", {**FAST, "force": True}, user=user)
    assert out.ok, out.error
    assert not any(unmanaged(p) and p.status.phase == "Running" for p in pods_by_node(sim.api).get(node, []))


def test_disable_eviction_deletes_despite_pdb(sim, user):
    node = find_node(sim.api, ledger=True)
    out = services.run_node_action(sim.cluster, node, "drain", {**FAST, "disable_eviction": True, "force": True},
                                   user=user)
    assert out.ok, out.error
    assert all(p["action"] in ("deleted", "skipped") for p in out.detail["pods"])
    assert not any(p.metadata.name.startswith("ledger-") for p in pods_by_node(sim.api).get(node, []))


def test_pod_selector_limits_the_drain(sim, user):
    node = find_node(sim.api, ledger=True)
    pods = pods_by_node(sim.api)[node]
    apps = {(p.metadata.labels or {}).get("app") for p in pods if owner_kind(p) == "ReplicaSet"} - {None, "ledger"}
    if not apps:
        pytest.fail("expected another deployment beside ledger on the node")
    app = sorted(apps)[0]
    out = services.run_node_action(sim.cluster, node, "drain", {**FAST, "pod_selector": f"app={app}"}, user=user)
    assert out.ok, out.error
    assert {p["name"].rsplit("-", 2)[0] for p in out.detail["pods"]} == {app}
    assert any(p.metadata.name.startswith("ledger-") for p in pods_by_node(sim.api)[node])


def test_should_stop_is_honoured(sim, user):
    node = find_node(sim.api, ledger=True)
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > 2

    out = services.run_node_action(sim.cluster, node, "drain", {**FAST, "timeout": 60}, user=user,
                                   should_stop=should_stop)
    assert not out.ok and out.error.startswith(f"drain of {node} stopped with ") and "payments/ledger-" in out.error


def test_eviction_version_by_discovery_v1beta1(kube_sim, db, user):
    sim = kube_sim(nodes=6, eviction_version="v1beta1", seed=11)
    cluster = services.import_cluster("beta", sim.kubeconfig_text)
    api = core_api(sim.kubeconfig)
    node = find_node(api, ledger=False, debug=None)
    out = services.run_node_action(cluster, node, "drain", {**FAST, "force": True}, user=user)
    assert out.ok, out.error
    from nodes.kube import client as kube_client

    assert kube_client.for_cluster(cluster).eviction_version() == "policy/v1beta1"


def test_drain_plan_changes_nothing(sim):
    blocked_node = find_node(sim.api, ledger=True)
    free_node = find_node(sim.api, ledger=False)
    rv = {n: sim.api.read_node(n).metadata.resource_version for n in (blocked_node, free_node)}
    plans = services.drain_plan(sim.cluster, [blocked_node, free_node, "missing-node"], {"ignore_daemonsets": True})
    by_node = {p["node"]: p for p in plans}
    blocked = by_node[blocked_node]
    assert not blocked["ok"]
    reasons = {p["name"]: p["reason"] for p in blocked["blocked"]}
    assert any(name.startswith("ledger-") and "PodDisruptionBudget payments/ledger-pdb allows no disruption now" == r
               for name, r in reasons.items())
    assert all(p["reason"] == "DaemonSet-managed" for p in blocked["skip"] if p["owner"].startswith("DaemonSet/"))
    free = by_node[free_node]
    assert free["evict"] and not any(p["name"].startswith("ledger-") for p in free["evict"])
    for entry in free["blocked"]:
        assert entry["reason"].startswith(("uses emptyDir", "not managed", "PodDisruptionBudget"))
    assert by_node["missing-node"]["error"] == "node 'missing-node' not found in cluster drain"
    for n in rv:  # dry run: nothing changed
        node = sim.api.read_node(n)
        assert node.metadata.resource_version == rv[n] and not node.spec.unschedulable
    assert not AuditEntry.objects.exists()


def test_plan_of_pods_already_read_is_the_plan_of_each_node_in_turn(sim):
    """services.drain_plan reads pods in parallel and plans with drain.plan_pods: same as plan_node, node after
    node, with one disruption budget spent across them."""
    from nodes.kube import client as kube_client
    from nodes.kube import drain as drain_ops

    params = services.validate_action("drain", {"ignore_daemonsets": True})
    nodes = sorted(n for n in pods_by_node(sim.api) if n and n.startswith("worker"))
    kube = kube_client.for_cluster(sim.cluster)
    pdbs, budget = drain_ops.list_pdbs(kube), {}
    one_by_one = [drain_ops.plan_node(kube, n, params, pdbs, budget) for n in nodes]
    planned = services.drain_plan(sim.cluster, nodes, params)
    assert [{k: v for k, v in p.items() if k != "error"} for p in planned] == one_by_one
    assert all(p["error"] == "" for p in planned)
    assert any(p["blocked"] for p in planned) and any(p["evict"] for p in planned)
