"""Reads: NodeInfo, one node with its pods, and batch targets (explicit names, selector, all) up to 10,000."""

import pytest
from django.core.exceptions import ValidationError

from nodes import selectors, services
from nodes.kube import KubeError
from tests.nodes.conftest import core_api

pytestmark = pytest.mark.django_db


def test_list_nodes_node_info(cluster, shared_sim):
    infos = selectors.list_nodes(cluster, with_pod_counts=True)
    assert len(infos) == 30 and [n.name for n in infos] == sorted(n.name for n in infos)
    cp = next(n for n in infos if n.name == "control-plane-1")
    assert cp.roles == ["control-plane"] and cp.status == "Ready" and cp.schedulable
    assert "node-role.kubernetes.io/control-plane:NoSchedule" in cp.taint_strings()
    assert cp.kubelet_version.startswith("v1.") and cp.os == "linux" and cp.arch in ("amd64", "arm64")
    assert cp.capacity["cpu"] and cp.allocatable["pods"] and cp.internal_ip and cp.age_seconds > 0
    assert any(n.gpus for n in infos) and any(n.status == "NotReady" for n in infos)
    assert sum(n.pod_count for n in infos) > 0
    official = core_api(shared_sim.kubeconfig).list_node().items
    assert {n.metadata.name for n in official} == {n.name for n in infos}


def test_list_nodes_selectors(cluster):
    gpu = selectors.list_nodes(cluster, label_selector="node-role.kubernetes.io/control-plane")
    assert [n.name for n in gpu] == ["control-plane-1", "control-plane-2", "control-plane-3"]
    assert selectors.list_nodes(cluster, field_selector="metadata.name=worker-0001")[0].name == "worker-0001"
    with pytest.raises(ValidationError, match="invalid label selector"):
        selectors.list_nodes(cluster, label_selector="a in (b")
    with pytest.raises(KubeError, match="HTTP 400 bad request: .*field label not supported"):
        selectors.list_nodes(cluster, field_selector="spec.podCIDR=x")


def test_get_node_with_pods_and_cordon_info(cluster, db):
    services.run_node_action(cluster, "worker-0010", "cordon", {"reason": "rma"}, user=None)
    info = selectors.get_node(cluster, "worker-0010")
    assert not info.schedulable and info.cordon_reason == "rma"
    assert info.pods and info.pod_count == sum(1 for p in info.pods if p["phase"] not in ("Succeeded", "Failed"))
    assert any(p["owner_kind"] == "DaemonSet" for p in info.pods)
    with pytest.raises(selectors.NodeNotFound, match="node 'nope' not found in cluster shared"):
        selectors.get_node(cluster, "nope")


def test_resolve_targets(cluster):
    assert selectors.resolve_targets(cluster, names=["worker-0002", "worker-0001", "worker-0002"]) == [
        "worker-0002", "worker-0001"]
    assert selectors.resolve_targets(cluster, names=["worker-0003"]) == ["worker-0003"]
    assert selectors.resolve_targets(cluster, selector="node-role.kubernetes.io/control-plane") == [
        "control-plane-1", "control-plane-2", "control-plane-3"]
    assert len(selectors.resolve_targets(cluster, all_nodes=True)) == 30
    with pytest.raises(ValidationError, match="1 of 1 node name"):
        selectors.resolve_targets(cluster, names=["ghost"])
    with pytest.raises(ValidationError, match="no node matches the selector"):
        selectors.resolve_targets(cluster, selector="nothing=here")
    with pytest.raises(ValidationError, match="choose exactly one"):
        selectors.resolve_targets(cluster, names=["a"], all_nodes=True)


def test_ten_thousand_names_mostly_unknown(cluster):
    names = [f"worker-{i:04d}" for i in range(1, 10_001)]
    with pytest.raises(ValidationError) as err:
        selectors.resolve_targets(cluster, names=names)
    message = err.value.messages[0]
    assert message.startswith("9973 of 10000 node name(s) unknown in cluster shared: worker-0028, worker-0029")


def test_ten_thousand_nodes(kube_sim, db):
    """A 10,000-node simulator: 10,000 explicit names are verified with one list call, not 10,000 GETs."""
    sim = kube_sim(nodes=10_000, seed=1)
    cluster = services.import_cluster("big", sim.kubeconfig_text)
    everything = selectors.resolve_targets(cluster, all_nodes=True)
    assert len(everything) == 10_000
    names = list(reversed(everything))
    assert selectors.resolve_targets(cluster, names=names) == names
    with pytest.raises(ValidationError) as err:
        selectors.resolve_targets(cluster, names=names + ["x-1", "x-2"])
    assert err.value.messages == ["2 of 10002 node name(s) unknown in cluster big: x-1, x-2"]
