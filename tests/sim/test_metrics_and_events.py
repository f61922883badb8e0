"""The simulator's resource metrics API (metrics.k8s.io/v1beta1, as metrics-server serves it) and node events,
through the official client and kubectl, and the access layer reading them (or their absence)."""

import json
import subprocess
import time

import kubernetes
import pytest

from nodes.kube import KubeError
from nodes.kube import client as kube_client
from nodes.kube import metrics as kube_metrics
from nodes.kube import nodes as node_ops
from tests.fixtures.kube import start_kube_sim
from tests.sim.helpers import client_for, core, raw


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    # kubectl sends tokens over TLS only
    s = start_kube_sim(tmp_path_factory.mktemp("metrics"), nodes=20, seed=3, tls=True)
    yield s
    s.stop()


def _kube(sim, kubeconfig_text=None):
    return kube_client.from_kubeconfig(kubeconfig_text or sim.kubeconfig_text, None)


def test_discovery_offers_metrics_k8s_io(sim):
    status, groups = raw(sim, "GET", "/apis")
    group = next(g for g in groups["groups"] if g["name"] == "metrics.k8s.io")
    assert group["preferredVersion"]["groupVersion"] == "metrics.k8s.io/v1beta1"
    status, resources = raw(sim, "GET", "/apis/metrics.k8s.io/v1beta1")
    assert status == 200 and {r["name"]: r["kind"] for r in resources["resources"]} == {
        "nodes": "NodeMetrics", "pods": "PodMetrics"}


def test_node_metrics_have_the_shape_of_metrics_server(sim):
    api = kubernetes.client.CustomObjectsApi(client_for(sim))
    listing = api.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")
    assert listing["kind"] == "NodeMetricsList" and listing["apiVersion"] == "metrics.k8s.io/v1beta1"
    nodes = {n.metadata.name: n for n in core(sim).list_node().items}
    ready = {name for name, n in nodes.items() if any(c.type == "Ready" and c.status == "True"
                                                      for c in n.status.conditions)}
    assert {i["metadata"]["name"] for i in listing["items"]} == ready and ready != set(nodes)  # NotReady: none
    item = listing["items"][0]
    assert item["usage"]["cpu"].endswith("n") and item["usage"]["memory"].endswith("Ki")
    assert item["window"].endswith("s") and item["timestamp"].endswith("Z")
    one = api.get_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes", item["metadata"]["name"])
    assert one["kind"] == "NodeMetrics" and one["metadata"]["name"] == item["metadata"]["name"]
    missing = next(iter(set(nodes) - ready))
    status, body = raw(sim, "GET", f"/apis/metrics.k8s.io/v1beta1/nodes/{missing}")
    assert status == 404 and body["reason"] == "NotFound"
    pods = api.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", "shop", "pods")
    assert pods["kind"] == "PodMetricsList" and pods["items"]
    assert all(c["usage"]["cpu"].endswith("n") for p in pods["items"] for c in p["containers"])
    status, _ = raw(sim, "POST", "/apis/metrics.k8s.io/v1beta1/nodes", {})
    assert status == 405
    status, _ = raw(sim, "GET", "/apis/metrics.k8s.io/v1beta1/nodes", token=sim.nobody_token)
    assert status == 403


def test_kubectl_top_nodes_reads_it(sim, tmp_path):
    done = subprocess.run(["kubectl", "--kubeconfig", sim.kubeconfig, "top", "nodes", "--no-headers"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines()]
    scraped = [line for line in lines if "<unknown>" not in line]
    assert scraped and all(line[1].endswith("m") and line[3].endswith("Mi") for line in scraped)
    assert len(scraped) < len(lines)  # the nodes that are not Ready have no metrics


def test_access_layer_reads_usage_or_says_there_is_none(sim, tmp_path):
    usage = kube_metrics.node_usage(_kube(sim))
    sample = next(iter(usage.values()))
    assert 0 < sample["cpu"] < 64 and sample["memory"] > 2 ** 20
    without = start_kube_sim(tmp_path, nodes=4, extra_args=("--no-metrics",))
    try:
        kube = _kube(without)
        assert kube_metrics.node_usage(kube) is None
        status, _ = raw(without, "GET", "/apis/metrics.k8s.io/v1beta1/nodes")
        assert status == 404
    finally:
        without.stop()
    viewer = _kube(sim, open(sim.viewer_kubeconfig).read())
    assert kube_metrics.node_usage(viewer)  # read access is enough
    nobody = _kube(sim, open(sim.nobody_kubeconfig).read())
    with pytest.raises(KubeError) as exc:
        kube_metrics.node_usage(nobody)
    assert exc.value.status == 403


def test_node_events_by_field_selector(sim):
    v1 = core(sim)
    name = "worker-0004"
    v1.patch_node(name, {"spec": {"unschedulable": True}})
    deadline = time.monotonic() + 10
    while True:
        events = node_ops.node_events(_kube(sim), name)
        if any(e["reason"] == "NodeNotSchedulable" for e in events) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert events[0]["reason"] == "NodeNotSchedulable" and events[0]["source"]["component"] == "kubelet"
    assert {e["involvedObject"]["name"] for e in events} == {name}
    assert any(e["reason"] == "RegisteredNode" for e in events)
    listed = v1.list_event_for_all_namespaces(field_selector=f"involvedObject.kind=Node,involvedObject.name={name}")
    assert [e.reason for e in listed.items] and all(e.involved_object.name == name for e in listed.items)
    status, body = raw(sim, "GET", "/api/v1/events?fieldSelector=spec.nodeName%3Dx")
    assert status == 400 and "field label not supported" in body["message"]
    v1.patch_node(name, {"spec": {"unschedulable": None}})
    done = subprocess.run(["kubectl", "--kubeconfig", sim.kubeconfig, "get", "events", "-A", "-o", "json",
                           "--field-selector", f"involvedObject.name={name}"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert {e["involvedObject"]["name"] for e in json.loads(done.stdout)["items"]} == {name}
