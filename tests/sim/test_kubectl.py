"""The stock kubectl against the simulator: get, label, taint, cordon, uncordon, drain."""

import os
import shutil
import subprocess

import pytest

from tests.fixtures.kube import start_kube_sim
from tests.sim.helpers import core

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    # kubectl (client-go) sends bearer tokens only over TLS
    sim = start_kube_sim(tmp_path_factory.mktemp("sim_kubectl"), nodes=30, seed=3, tls=True)
    yield sim
    sim.stop()


def kubectl(sim, *args, context=None, check=True):
    cmd = [KUBECTL, "--kubeconfig", sim.kubeconfig, *(["--context", context] if context else []), *args]
    env = {**os.environ, "HOME": os.path.dirname(sim.kubeconfig)}  # own discovery cache
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_get_nodes_prints_status_and_roles(sim):
    out = kubectl(sim, "get", "nodes").stdout.splitlines()
    assert out[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    rows = {line.split()[0]: line.split() for line in out[1:]}
    assert len(rows) == 30
    assert rows["control-plane-1"][1:3] == ["Ready", "control-plane"]
    names = kubectl(sim, "get", "nodes", "-l", "topology.kubernetes.io/zone=zone-b", "-o", "name").stdout.split()
    assert names and all(n.startswith("node/") for n in names)


def test_label_taint_cordon_uncordon(sim):
    v1 = core(sim)
    kubectl(sim, "label", "node", "worker-0002", "team=red")
    kubectl(sim, "taint", "node", "worker-0002", "dedicated=db:NoSchedule")
    kubectl(sim, "cordon", "worker-0002")
    node = v1.read_node("worker-0002")
    assert node.metadata.labels["team"] == "red"
    assert ("dedicated", "db", "NoSchedule") in [(t.key, t.value, t.effect) for t in node.spec.taints]
    assert node.spec.unschedulable is True
    kubectl(sim, "label", "node", "worker-0002", "team-")
    kubectl(sim, "taint", "node", "worker-0002", "dedicated:NoSchedule-")
    kubectl(sim, "uncordon", "worker-0002")
    node = v1.read_node("worker-0002")
    assert "team" not in node.metadata.labels
    assert not [t for t in node.spec.taints or [] if t.key == "dedicated"]
    assert node.spec.unschedulable is None
    bad = kubectl(sim, "taint", "node", "worker-0002", "x=y:Sometimes", check=False)
    assert bad.returncode != 0
    denied = kubectl(sim, "label", "node", "worker-0002", "a=b", context="viewer", check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()


def _evictable_node(v1) -> str:
    """A worker whose non-DaemonSet pods all belong to budgets that allow a disruption (or to none)."""
    from kubernetes.client import PolicyV1Api

    policy = PolicyV1Api(v1.api_client)
    blocked = [p for p in policy.list_pod_disruption_budget_for_all_namespaces().items
               if p.status.disruptions_allowed == 0]
    for node in v1.list_node(label_selector="node-role.kubernetes.io/worker").items:
        ready = next(c.status for c in node.status.conditions if c.type == "Ready")
        if ready != "True" or node.spec.taints:
            continue
        pods = v1.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node.metadata.name}").items
        others = [p for p in pods if (p.metadata.owner_references or [None])[0] is None
                  or p.metadata.owner_references[0].kind != "DaemonSet"]
        if len(others) < 2:
            continue
        if any(p.metadata.namespace == b.metadata.namespace and all(
                (p.metadata.labels or {}).get(k) == v for k, v in b.spec.selector.match_labels.items())
               for p in others for b in blocked):
            continue
        return node.metadata.name
    raise AssertionError("no evictable node in the generated cluster")


def test_drain_evicts_everything_but_daemonsets(sim):
    v1 = core(sim)
    name = _evictable_node(v1)
    result = kubectl(sim, "drain", name, "--ignore-daemonsets", "--delete-emptydir-data", "--force",
                     "--timeout=60s")
    assert f"node/{name} drained" in result.stdout
    assert v1.read_node(name).spec.unschedulable is True
    left = v1.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={name}").items
    assert left and all(p.metadata.owner_references[0].kind == "DaemonSet" for p in left)


def test_drain_blocked_by_budget_ends_at_its_timeout(sim):
    v1 = core(sim)
    ledger = [p for p in v1.list_namespaced_pod("payments", label_selector="app=ledger").items
              if not p.metadata.deletion_timestamp]
    name = ledger[0].spec.node_name
    result = kubectl(sim, "drain", name, "--ignore-daemonsets", "--delete-emptydir-data", "--force",
                     "--timeout=2s", check=False)
    assert result.returncode != 0
    assert "disruption budget" in result.stderr and ledger[0].metadata.name in result.stderr
    assert v1.read_node(name).spec.unschedulable is True
    assert v1.read_namespaced_pod(ledger[0].metadata.name, "payments").metadata.deletion_timestamp is None
