"""The pod count of each node on the node lists: one cluster-wide list of pods that are not finished."""

import re

import pytest
from django.contrib.auth.models import Group, User

from nodes import selectors
from nodes.kube import nodes as node_ops
from tests.nodes.conftest import core_api

pytestmark = pytest.mark.django_db

NODE = "worker-0005"
EMPTY = "worker-empty-1"


def _pod(name: str, node: str, phase: str) -> dict:
    return {"metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.local/toolbox:1.0"}]},
            "status": {"phase": phase}}


def _active_by_node(api) -> dict[str, int]:
    """The count as the official client sees it, filtered here (not through the field selector)."""
    counts: dict[str, int] = {}
    for pod in api.list_pod_for_all_namespaces().items:
        if pod.spec.node_name and pod.status.phase not in ("Succeeded", "Failed"):
            counts[pod.spec.node_name] = counts.get(pod.spec.node_name, 0) + 1
    return counts


@pytest.fixture(scope="module")
def known_pods(shared_sim):
    """On NODE: one more pod that runs and one Succeeded and one Failed pod; and a node without any pod."""
    api = core_api(shared_sim.kubeconfig)
    before = _active_by_node(api)[NODE]
    for name, phase in (("count-running", "Pending"), ("count-done", "Succeeded"), ("count-failed", "Failed")):
        api.create_namespaced_pod("default", _pod(name, NODE, phase))
    api.create_node({"metadata": {"name": EMPTY, "labels": {"kubernetes.io/hostname": EMPTY}}})
    return {"before": before, "api": api}


@pytest.fixture
def viewer(client, db):
    user = User.objects.create_user("pods-viewer", password="pw")
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])
    client.force_login(user)
    selectors.invalidate_nodes()
    return client


def _shown(html: str) -> dict[str, str]:
    """Node name -> the text of its Pods cell, as rendered."""
    rows = re.findall(r'<tr data-node="([^"]+)".*?data-label="Pods">(?:<span>)?([^<]*)<', html, re.S)
    return dict(rows)


def test_pods_column_counts_pods_that_are_not_finished(viewer, cluster, known_pods):
    expected = _active_by_node(known_pods["api"])
    assert expected[NODE] == known_pods["before"] + 1  # the finished pods are not counted
    r = viewer.get("/clusters/shared/nodes/", {"q": "worker"})
    html = r.content.decode()
    assert '<th scope="col" class="kn-col-pods" aria-sort="none"><a href="?q=worker&amp;sort=pods">Pods</a>' in html
    shown = _shown(html)
    assert shown[NODE] == str(expected[NODE])
    assert shown[EMPTY] == "0"
    assert {n.name: n.pod_count for n in r.context["page"]} == {n: expected.get(n, 0) for n in shown}
    assert not r.context["pods_error"]
    # every node of the cluster, on the page of all clusters too
    r = viewer.get("/nodes/")
    assert {n.name: n.pod_count for _, n in r.context["page"]} == {
        n.metadata.name: expected.get(n.metadata.name, 0) for n in known_pods["api"].list_node().items}
    assert _shown(r.content.decode())[NODE] == str(expected[NODE])


def test_detail_counts_like_the_list_and_names_the_finished_pods(viewer, cluster, known_pods):
    info = selectors.get_node(cluster, NODE)
    listed = next(n for n in selectors.cached_nodes(cluster) if n.name == NODE)
    assert info.pod_count == listed.pod_count
    assert info.finished_pod_count >= 2 and len(info.pods) == info.pod_count + info.finished_pod_count
    r = viewer.get(f"/clusters/shared/nodes/{NODE}/")
    assert f"Pods ({info.pod_count}, and {info.finished_pod_count} finished)" in r.content.decode()


def test_sort_by_pods_most_first(viewer, cluster, known_pods):
    r = viewer.get("/clusters/shared/nodes/", {"sort": "pods"})
    assert 'class="kn-col-pods" aria-sort="ascending"' in r.content.decode()
    keys = [(-n.pod_count, n.name) for n in r.context["page"]]
    assert len(keys) == 31 and keys == sorted(keys)  # most pods first, then by name
    assert r.context["page"][0].pod_count == max(_active_by_node(known_pods["api"]).values())
    assert r.context["page"][len(keys) - 1].name == EMPTY
    r = viewer.get("/nodes/", {"sort": "pods"})
    assert [n.name for _, n in r.context["page"]] == [k[1] for k in keys]


def test_counts_are_read_across_pages_of_the_pod_list(cluster, known_pods, monkeypatch):
    whole = {n.name: n.pod_count for n in selectors.list_nodes(cluster, with_pod_counts=True)}
    monkeypatch.setattr(node_ops, "LIST_CHUNK", 7)  # the simulator pages with limit/continue, as the API does
    paged = {n.name: n.pod_count for n in selectors.list_nodes(cluster, with_pod_counts=True)}
    assert paged == whole and sum(paged.values()) == sum(_active_by_node(known_pods["api"]).values())


def test_without_pod_counts_the_pods_are_not_read(cluster):
    nodes = selectors.list_nodes(cluster)
    assert nodes and all(n.pod_count is None for n in nodes) and not nodes.pods_error
