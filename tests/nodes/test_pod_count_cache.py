"""Pod counts of the node lists are cached per cluster on their own: mutations that move no pod (labels, taints
other than NoExecute, cordon) read the pods not again; a drain or a NoExecute taint reads them again. The nodes are
listed once: the cluster's watch keeps them current, and the nodes a mutation of ours touched are read one by one
(read your own writes), so no node list is read again after a mutation.

What is read is observed in the simulator's own request log (it logs each request at DEBUG).
"""

import json
import re
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User

from nodes import selectors, services, watch
from tests.nodes.conftest import core_api

pytestmark = pytest.mark.django_db

FAST_DRAIN = {"ignore_daemonsets": True, "delete_emptydir_data": True, "grace_period": 0, "timeout": 30,
              "force": True}


class Reads:
    """The list calls the simulator answered since the last look (first pages only, not `continue` pages)."""

    def __init__(self, sim):
        self.path = Path(sim.log_path)
        self.offset = self.path.stat().st_size

    def since_last(self) -> dict[str, int]:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            text = f.read().decode(errors="replace")
        self.offset += len(text.encode())
        lists = [m for m in re.findall(r'"GET (/api/v1/(?:nodes|pods)\S*) HTTP', text)
                 if "continue=" not in m and "watch=" not in m]
        return {"nodes": sum(1 for p in lists if re.match(r"/api/v1/nodes(\?|$)", p)),
                "pods": sum(1 for p in lists if p.startswith("/api/v1/pods?") and "status.phase" in p)}


@pytest.fixture
def sim(kube_sim, db, monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")  # for the simulator process only: it logs every request
    sim = kube_sim(nodes=16, seed=5)
    sim.cluster = services.import_cluster("podcache", sim.kubeconfig_text, simulated=True)
    sim.api = core_api(sim.kubeconfig)
    sim.reads = Reads(sim)
    selectors.invalidate_nodes()
    yield sim
    selectors.invalidate_nodes()


def active_by_node(api) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pod in api.list_pod_for_all_namespaces().items:
        if pod.spec.node_name and pod.status.phase not in ("Succeeded", "Failed"):
            counts[pod.spec.node_name] = counts.get(pod.spec.node_name, 0) + 1
    return counts


def shown(nodes) -> dict[str, int]:
    return {n.name: n.pod_count for n in nodes}


def expected(api, nodes) -> dict[str, int]:
    counts = active_by_node(api)
    return {n.name: counts.get(n.name, 0) for n in nodes}


def busy_worker(api) -> str:
    counts = active_by_node(api)
    return max((n for n in counts if n.startswith("worker")), key=lambda n: (counts[n], n))


def test_mutations_that_move_no_pod_read_the_nodes_again_but_not_the_pods(sim):
    nodes = selectors.cached_nodes(sim.cluster)
    assert sim.reads.since_last() == {"nodes": 1, "pods": 1}
    assert shown(nodes) == expected(sim.api, nodes)
    node = busy_worker(sim.api)
    for action, params in (("label", {"set": {"team": "blue"}}),
                           ("taint", {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}),
                           ("taint", {"taints": [{"key": "soft", "effect": "PreferNoSchedule"}]}),
                           ("cordon", {"reason": "disk check"}),
                           ("uncordon", {}),
                           ("untaint", {"taints": [{"key": "dedicated"}]})):
        assert services.run_node_action(sim.cluster, node, action, params, user="ops").ok
        nodes = selectors.cached_nodes(sim.cluster)
        assert sim.reads.since_last() == {"nodes": 0, "pods": 0}, action
        assert shown(nodes) == expected(sim.api, nodes), action
    info = next(n for n in nodes if n.name == node)
    assert info.labels["team"] == "blue" and info.schedulable and info.taint_strings() == ["soft:PreferNoSchedule"]
    # a label selector filters the same nodes, with the same pod counts
    blue = selectors.cached_nodes(sim.cluster, label_selector="team=blue")
    assert [n.name for n in blue] == [node] and blue[0].pod_count == info.pod_count
    assert sim.reads.since_last() == {"nodes": 0, "pods": 0}


def test_a_drain_reads_the_pods_again(sim):
    node = busy_worker(sim.api)
    before = next(n for n in selectors.cached_nodes(sim.cluster) if n.name == node).pod_count
    sim.reads.since_last()
    out = services.run_node_action(sim.cluster, node, "drain", FAST_DRAIN, user="ops")
    assert out.ok, out.error
    nodes = selectors.cached_nodes(sim.cluster)
    assert sim.reads.since_last() == {"nodes": 0, "pods": 1}
    left = active_by_node(sim.api).get(node, 0)
    drained = next(n for n in nodes if n.name == node)
    assert drained.pod_count == left < before and not drained.schedulable
    selectors.cached_nodes(sim.cluster, label_selector="kubernetes.io/os=linux")  # counts cached again
    assert sim.reads.since_last() == {"nodes": 0, "pods": 0}


def test_a_failed_drain_reads_the_pods_again_too(sim):
    selectors.cached_nodes(sim.cluster)
    sim.reads.since_last()
    out = services.run_node_action(sim.cluster, "no-such-node", "drain", FAST_DRAIN, user="ops")
    assert not out.ok
    selectors.cached_nodes(sim.cluster)
    assert sim.reads.since_last() == {"nodes": 0, "pods": 1}


def test_a_noexecute_taint_reads_the_pods_again_once(sim):
    selectors.cached_nodes(sim.cluster)
    sim.reads.since_last()
    node = busy_worker(sim.api)
    noexecute = {"taints": [{"key": "maintenance", "effect": "NoExecute"}]}
    assert services.run_node_action(sim.cluster, node, "taint", noexecute, user="ops").ok
    nodes = selectors.cached_nodes(sim.cluster)
    assert sim.reads.since_last() == {"nodes": 0, "pods": 1}
    assert shown(nodes) == expected(sim.api, nodes)
    # a NoSchedule taint on that node leaves its NoExecute taint as it was: no pod moves
    other = {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}
    assert services.run_node_action(sim.cluster, node, "taint", other, user="ops").ok
    selectors.cached_nodes(sim.cluster)
    assert sim.reads.since_last() == {"nodes": 0, "pods": 0}


def test_pod_counts_are_read_again_when_they_expire(sim, monkeypatch):
    nodes = selectors.cached_nodes(sim.cluster)
    sim.reads.since_last()
    node = busy_worker(sim.api)
    before = next(n for n in nodes if n.name == node).pod_count
    sim.api.create_namespaced_pod("default", {
        "metadata": {"name": "expiry-probe"},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.local/toolbox:1.0"}]},
        "status": {"phase": "Pending"}})
    assert services.run_node_action(sim.cluster, node, "label", {"set": {"probe": "1"}}, user="ops").ok
    nodes = selectors.cached_nodes(sim.cluster)  # the node is new, the pod counts are still cached
    assert next(n for n in nodes if n.name == node).pod_count == before
    assert next(n for n in nodes if n.name == node).labels["probe"] == "1"
    assert sim.reads.since_last() == {"nodes": 0, "pods": 0}
    monkeypatch.setattr(selectors, "POD_CACHE_SECONDS", 0.0)
    monkeypatch.setattr(selectors, "POD_STALE_SECONDS", 0.0)  # no stale counts shown while they are read again
    selectors.invalidate_nodes(sim.cluster)
    nodes = selectors.cached_nodes(sim.cluster)
    assert sim.reads.since_last() == {"nodes": 0, "pods": 1}
    assert next(n for n in nodes if n.name == node).pod_count == before + 1
    assert shown(nodes) == expected(sim.api, nodes)


def test_old_pod_counts_are_shown_while_they_are_read_again(sim, monkeypatch):
    nodes = selectors.cached_nodes(sim.cluster)
    node = busy_worker(sim.api)
    before = next(n for n in nodes if n.name == node).pod_count
    sim.api.create_namespaced_pod("default", {
        "metadata": {"name": "stale-probe"},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.local/toolbox:1.0"}]},
        "status": {"phase": "Pending"}})
    monkeypatch.setattr(selectors, "POD_CACHE_SECONDS", 0.0)
    sim.reads.since_last()
    nodes = selectors.cached_nodes(sim.cluster)  # old counts at once, a read in the background
    assert next(n for n in nodes if n.name == node).pod_count == before
    deadline = time.monotonic() + 10
    while next(n for n in selectors.cached_nodes(sim.cluster) if n.name == node).pod_count != before + 1:
        assert time.monotonic() < deadline, "the counts were not read again"
        time.sleep(0.05)
    assert sim.reads.since_last()["nodes"] == 0


class PodsForbidden(ThreadingHTTPServer):
    """An API server in front of the simulator that lets its users read everything but the pods (403), as
    credentials that may list nodes but not pods; `allow_pods` lifts that."""

    allow_pods = False

    def __init__(self, upstream: str):
        self.upstream = upstream
        super().__init__(("127.0.0.1", 0), _Forward)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/api/v1/pods") and not self.server.allow_pods:
            code, body = 403, json.dumps({
                "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
                "message": 'pods is forbidden: User "nodes-only" cannot list resource "pods" in API group "" at '
                           "the cluster scope"}).encode()
        else:
            request = urllib.request.Request(self.server.upstream + self.path,
                                             headers={"Authorization": self.headers.get("Authorization", "")})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
                    code, body = response.status, response.read()
            except urllib.error.HTTPError as exc:
                code, body = exc.code, exc.read()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


def test_pods_that_cannot_be_read_show_as_unknown_with_why_and_are_tried_again(sim, client, monkeypatch):
    # this proxy answers a watch only when it ends: the node watch never opens, the nodes are listed instead
    monkeypatch.setattr(watch, "STARTING_GRACE", 0.0)
    server = PodsForbidden(sim.url)
    try:
        kubeconfig = sim.kubeconfig_text.replace(sim.url, server.url)
        cluster = services.import_cluster("nopods", kubeconfig, simulated=True)
        nodes = selectors.cached_nodes(cluster)
        assert nodes and all(n.pod_count is None for n in nodes)
        assert nodes.pods_error.startswith("pods could not be read: HTTP 403") and "cannot list" in nodes.pods_error
        user = User.objects.create_user("nopods-viewer", password="pw")
        user.groups.add(Group.objects.get_or_create(name="viewer")[0])
        client.force_login(user)
        html = client.get("/clusters/nopods/nodes/").content.decode()
        assert "Pod counts are missing: pods could not be read: HTTP 403" in html
        assert 'data-label="Pods"><span title="pods could not be read">?</span>' in html
        assert re.search(r'data-label="Pods"><span>\d', html) is None
        # the failure is not kept: once pods may be read, the next node list read (after a label) counts them
        server.allow_pods = True
        assert services.run_node_action(sim.cluster, nodes[0].name, "label", {"set": {"x": "y"}}, user="ops").ok
        nodes = selectors.cached_nodes(cluster)
        assert nodes[0].labels["x"] == "y"
        assert not nodes.pods_error and shown(nodes) == expected(sim.api, nodes)
    finally:
        server.shutdown()
        server.server_close()
