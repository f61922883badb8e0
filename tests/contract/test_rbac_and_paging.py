"""What the node list relies on, against the real kube-apiserver (and the simulator where it can play along):
pod counting across `limit`/`continue` pages, the node count from `remainingItemCount`, and a real RBAC role that
may read and patch nodes but not pods — the pod counts are missing with the reason, label and cordon work, a
drain stops with the 403 (until now shown only through a hand-written proxy and the simulator)."""
import math

import pytest
import yaml
from django.contrib.auth import get_user_model

from nodes import selectors, services
from nodes.kube import client as kube_client
from nodes.kube import nodes as node_ops
from nodes.kube.watch import list_with_version

pytestmark = [pytest.mark.contract, pytest.mark.django_db]

CHUNK = 4


@pytest.fixture
def user(db):
    return get_user_model().objects.get_or_create(username="operator")[0]


def import_with_token(backend, name: str, token: str):
    """The backend's admin kubeconfig with another bearer token."""
    with open(backend.kubeconfig) as f:
        doc = yaml.safe_load(f)
    for entry in doc["users"]:
        entry["user"] = {"token": token}
    return services.import_cluster(name, yaml.safe_dump(doc), simulated=False)


def test_pods_are_counted_across_limit_and_continue_pages(backend, unique):
    nodes = [f"{unique}-{i}" for i in range(3)]
    expected = {}
    for i, node in enumerate(nodes):
        backend.admin.create_node(node)
        for j in range(i + 3):  # 3, 4, 5 running pods
            backend.admin.create_pod(f"{unique}-ns", f"p{i}-{j}", node)
        expected[node] = i + 3
    finished = backend.admin.create_pod(f"{unique}-ns", "done", nodes[0])  # Succeeded: not counted
    backend.admin.ok("PATCH", f"/api/v1/namespaces/{unique}-ns/pods/done/status", {"status": {"phase": "Succeeded"}},
                     content_type="application/merge-patch+json")
    assert finished["spec"]["nodeName"] == nodes[0]
    cluster = services.import_cluster(f"{backend.name}-{unique}", open(backend.kubeconfig).read(),
                                      simulated=backend.name == "simulator")
    kube = kube_client.for_cluster(cluster)

    pages = list(node_ops._pages(kube, "/api/v1/pods", field_selector=node_ops.ACTIVE_PODS, chunk=CHUNK))
    everything = backend.admin.ok("GET", "/api/v1/pods", fieldSelector=node_ops.ACTIVE_PODS)["items"]
    assert len(pages) >= math.ceil(len(everything) / CHUNK) >= 3 and all(len(p) <= CHUNK for p in pages)
    assert sorted(p["metadata"]["uid"] for page in pages for p in page) == sorted(
        p["metadata"]["uid"] for p in everything)

    counts = node_ops.pod_counts(kube, chunk=CHUNK)
    assert {n: counts.get(n) for n in nodes} == expected
    load_counts, _ = node_ops.pod_load(kube, chunk=CHUNK)
    assert {n: load_counts.get(n) for n in nodes} == expected
    assert node_ops.pod_counts(kube) == counts  # one page: the same

    listed, version = list_with_version(kube, "/api/v1/nodes", chunk=2)
    all_nodes = backend.admin.ok("GET", "/api/v1/nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in listed) == sorted(n["metadata"]["name"] for n in all_nodes)
    assert version and len(all_nodes) > 2
    assert set(nodes) <= {n["metadata"]["name"] for n in node_ops.list_nodes(kube, chunk=2)}
    # the node count of the cluster check: one item and the server's remainingItemCount
    assert services.check_cluster(cluster).node_count == len(all_nodes)


@pytest.fixture
def nodes_only(real_backend, unique):
    """A service account bound by a real ClusterRole that may read and patch nodes, and nothing about pods;
    its token from the TokenRequest API."""
    admin, ns, sa = real_backend.admin, f"{unique}-rbac", "node-editor"
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    admin.ensure_namespace(ns)
    admin.ok("POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
             {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa}})
    admin.ok("POST", f"{rbac}/clusterroles", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": f"{unique}-nodes"},
        "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch", "patch"]}]})
    admin.ok("POST", f"{rbac}/clusterrolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{unique}-nodes"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"{unique}-nodes"},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]})
    token = admin.ok("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token",
                     {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})["status"]["token"]
    try:
        yield import_with_token(real_backend, f"rbac-{unique}", token), f"system:serviceaccount:{ns}:{sa}"
    finally:
        admin.req("DELETE", f"{rbac}/clusterrolebindings/{unique}-nodes")
        admin.req("DELETE", f"{rbac}/clusterroles/{unique}-nodes")


def test_a_real_role_without_pods_lists_nodes_with_the_pod_counts_missing_and_why(real_backend, nodes_only, user,
                                                                                   unique):
    cluster, subject = nodes_only
    node = f"{unique}-n"
    real_backend.admin.create_node(node)
    real_backend.admin.create_pod(f"{unique}-ns", "p", node)

    check = services.check_cluster(cluster)
    assert check.ok and (check.can_list_nodes, check.can_patch_nodes, check.can_evict_pods) == ("yes", "yes", "no")

    selectors.invalidate_nodes()
    listed = selectors.list_nodes(cluster, with_pod_counts=True)
    assert node in [n.name for n in listed]
    assert next(n for n in listed if n.name == node).pod_count is None
    assert listed.pod_counts is None
    assert listed.pods_error == (f'pods could not be read: HTTP 403 forbidden: pods is forbidden: User "{subject}" '
                                 f'cannot list resource "pods" in API group "" at the cluster scope')

    # what the role allows works; what needs the pods stops with the 403, saying what it left behind
    labelled = services.run_node_action(cluster, node, "label", {"set": {"rbac": "ok"}}, user=user)
    assert labelled.ok, labelled.error
    drained = services.run_node_action(cluster, node, "drain", {"timeout": 5, "ignore_daemonsets": True},
                                       user=user)
    assert not drained.ok
    assert f'User "{subject}" cannot list resource "pods"' in drained.error, drained.error
    assert drained.error.startswith("HTTP 403 forbidden"), drained.error
    after = real_backend.admin.ok("GET", f"/api/v1/nodes/{node}")
    assert after["metadata"]["labels"]["rbac"] == "ok"
    assert real_backend.admin.ok("GET", f"/api/v1/namespaces/{unique}-ns/pods/p")["metadata"].get(
        "deletionTimestamp") is None  # nothing evicted
