"""Fault injection (--fail-rate, --conflict-rate), the command's errors, and a 5,000-node cluster."""

import subprocess
import sys
import time

import pytest
from kubernetes.client import ApiException

from tests.fixtures.kube import ROOT
from tests.sim.helpers import core, raw


def _outcomes(v1, writes=40):
    codes = []
    for i in range(writes):
        try:
            v1.patch_node("worker-0004", {"metadata": {"labels": {"n": str(i)}}})
            codes.append(200)
        except ApiException as exc:
            codes.append(exc.status)
    return codes


def test_fail_rate_answers_writes_with_500_deterministically(kube_sim):
    sim = kube_sim(nodes=10, fail_rate=0.5, seed=11)
    v1 = core(sim)
    codes = _outcomes(v1)
    assert set(codes) == {200, 500}
    assert len(v1.list_node().items) == 10  # reads never fail
    again = core(kube_sim(nodes=10, fail_rate=0.5, seed=11))
    assert _outcomes(again) == codes


def test_conflict_rate_answers_node_writes_with_409(kube_sim):
    sim = kube_sim(nodes=10, conflict_rate=0.3, seed=5)
    codes = _outcomes(core(sim))
    assert set(codes) == {200, 409}
    # the same seed gives the same answers (raw requests this time); the first conflict is a Kubernetes Status
    again = kube_sim(nodes=10, conflict_rate=0.3, seed=5)
    answers = [raw(again, "PATCH", "/api/v1/nodes/worker-0004", {"metadata": {"labels": {"z": str(i)}}},
                   "application/merge-patch+json") for i in range(codes.index(409) + 1)]
    assert [code for code, _ in answers] == codes[:codes.index(409) + 1]
    body = answers[-1][1]
    assert body["kind"] == "Status" and body["code"] == 409 and body["reason"] == "Conflict"
    assert body["details"] == {"name": "worker-0004", "kind": "nodes"}


def test_latency_delays_requests(kube_sim):
    sim = kube_sim(nodes=5, latency_ms=200)
    started = time.monotonic()
    core(sim).list_node()
    assert time.monotonic() - started >= 0.2


def test_command_rejects_bad_arguments(tmp_path):
    result = subprocess.run([sys.executable, "manage.py", "kube_sim", "--nodes", "0", "--kubeconfig",
                             str(tmp_path / "kc")], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"DEBUG": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0 and "--nodes must be at least 1" in result.stderr
    assert not (tmp_path / "kc").exists()


@pytest.mark.slow
def test_five_thousand_nodes(kube_sim):
    sim = kube_sim(nodes=5000, seed=1)
    v1 = core(sim)
    nodes = v1.list_node(_preload_content=False)
    import json

    items = json.loads(nodes.data)["items"]
    assert len(items) == 5000
    started = time.monotonic()
    code, body = raw(sim, "GET", "/api/v1/nodes")
    elapsed = time.monotonic() - started
    assert code == 200 and len(body["items"]) == 5000
    print(f"list of 5000 nodes: {elapsed:.3f}s")
    zone_a = v1.list_node(label_selector="topology.kubernetes.io/zone=zone-a,!node-role.kubernetes.io/control-plane",
                          _preload_content=False)
    assert len(json.loads(zone_a.data)["items"]) == len([n for n in items if n["metadata"]["labels"][
        "topology.kubernetes.io/zone"] == "zone-a" and "node-role.kubernetes.io/control-plane" not in n["metadata"][
        "labels"]])
    pods = v1.list_pod_for_all_namespaces(field_selector="spec.nodeName=worker-2500").items
    assert pods and all(p.spec.node_name == "worker-2500" for p in pods)
    node = v1.patch_node("worker-4997", {"metadata": {"labels": {"big": "yes"}}})
    assert node.metadata.labels["big"] == "yes"
