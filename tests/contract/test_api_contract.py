"""Behaviour of the Kubernetes API our code and the simulator rely on, checked on both backends."""
import pytest

from tests.contract.harness import MERGE, STRATEGIC

pytestmark = pytest.mark.contract
JSON_PATCH = "application/json-patch+json"


def test_eviction_discovery(backend):
    resources = backend.admin.ok("GET", "/api/v1")["resources"]
    eviction = [r for r in resources if r["name"] == "pods/eviction"]
    assert eviction and eviction[0]["group"] == "policy"
    assert eviction[0]["version"] in {"v1", "v1beta1"}


def test_label_and_field_selectors(backend, unique):
    backend.admin.create_node(f"{unique}-a", labels={"pool": unique})
    backend.admin.create_node(f"{unique}-b", labels={"pool": unique, "gpu": "yes"})
    names = {n["metadata"]["name"] for n in backend.admin.ok(
        "GET", "/api/v1/nodes", labelSelector=f"pool={unique},!gpu")["items"]}
    assert names == {f"{unique}-a"}
    by_field = backend.admin.ok("GET", "/api/v1/nodes", fieldSelector=f"metadata.name={unique}-b")["items"]
    assert [n["metadata"]["name"] for n in by_field] == [f"{unique}-b"]
    assert backend.admin.req("GET", "/api/v1/nodes", labelSelector="pool in (").status_code == 400
    assert backend.admin.req("GET", "/api/v1/nodes", fieldSelector="spec.nope=1").status_code == 400


def test_taints_replaced_by_merge_and_strategic_patch(backend, unique):
    name = f"{unique}-n"
    backend.admin.create_node(name)
    taints = [{"key": "a", "value": "1", "effect": "NoSchedule"}, {"key": "b", "effect": "NoExecute"}]
    backend.admin.ok("PATCH", f"/api/v1/nodes/{name}", {"spec": {"taints": taints}}, content_type=MERGE)
    node = backend.admin.ok("PATCH", f"/api/v1/nodes/{name}", {"spec": {"taints": taints[1:]}},
                            content_type=STRATEGIC)
    assert [t["key"] for t in node["spec"]["taints"]] == ["b"]


def test_json_patch_test_failure_is_422_and_unknown_type_415(backend, unique):
    name = f"{unique}-n"
    backend.admin.create_node(name)
    resp = backend.admin.req("PATCH", f"/api/v1/nodes/{name}",
                             [{"op": "test", "path": "/spec/unschedulable", "value": True}], content_type=JSON_PATCH)
    assert resp.status_code == 422
    resp = backend.admin.req("PATCH", f"/api/v1/nodes/{name}", {"spec": {}}, content_type="text/plain")
    assert resp.status_code == 415


def test_stale_resource_version_conflicts(backend, unique):
    name = f"{unique}-n"
    node = backend.admin.create_node(name)
    stale = node["metadata"]["resourceVersion"]
    backend.admin.ok("PATCH", f"/api/v1/nodes/{name}", {"metadata": {"labels": {"x": "1"}}}, content_type=MERGE)
    resp = backend.admin.req("PATCH", f"/api/v1/nodes/{name}",
                             {"metadata": {"resourceVersion": stale, "labels": {"x": "2"}}}, content_type=MERGE)
    assert resp.status_code == 409 and resp.json()["reason"] == "Conflict"
    node["metadata"]["resourceVersion"] = stale
    assert backend.admin.req("PUT", f"/api/v1/nodes/{name}", node).status_code == 409


@pytest.mark.parametrize("labels", [{"bad key!": "v"}, {"ok": "bad value!"}])
def test_invalid_labels_are_422_with_field_causes(backend, unique, labels):
    name = f"{unique}-n"
    backend.admin.create_node(name)
    resp = backend.admin.req("PATCH", f"/api/v1/nodes/{name}", {"metadata": {"labels": labels}}, content_type=MERGE)
    assert resp.status_code == 422
    fields = [c.get("field", "") for c in resp.json()["details"]["causes"]]
    assert any(f.startswith("metadata.labels") for f in fields)


@pytest.mark.parametrize("taints", [
    [{"key": "a", "effect": "Sometimes"}],
    [{"key": "a", "effect": "NoSchedule"}, {"key": "a", "effect": "NoSchedule"}],
])
def test_invalid_taints_are_422_with_field_causes(backend, unique, taints):
    name = f"{unique}-n"
    backend.admin.create_node(name)
    resp = backend.admin.req("PATCH", f"/api/v1/nodes/{name}", {"spec": {"taints": taints}}, content_type=MERGE)
    assert resp.status_code == 422
    fields = [c.get("field", "") for c in resp.json()["details"]["causes"]]
    assert any(f.startswith("spec.taints") for f in fields)


def test_noop_write_keeps_resource_version(backend, unique):
    name = f"{unique}-n"
    node = backend.admin.create_node(name)
    after = backend.admin.ok("PATCH", f"/api/v1/nodes/{name}", {"metadata": {"labels": {}}}, content_type=MERGE)
    assert after["metadata"]["resourceVersion"] == node["metadata"]["resourceVersion"]


def test_bad_token_401_and_viewer_403(backend, unique):
    from tests.contract.harness import Harness
    assert Harness(backend.url, "wrong").req("GET", "/api/v1/nodes").status_code == 401
    assert backend.viewer.req("GET", "/api/v1/nodes").status_code == 403


def _evict(backend, ns, pod, version):
    return backend.admin.req("POST", f"/api/v1/namespaces/{ns}/pods/{pod}/eviction", {
        "apiVersion": f"policy/{version}", "kind": "Eviction", "metadata": {"name": pod, "namespace": ns}})


def _eviction_version(backend):
    resources = backend.admin.ok("GET", "/api/v1")["resources"]
    return next(r["version"] for r in resources if r["name"] == "pods/eviction")


def test_eviction_statuses(backend, unique):
    ns, node = unique, f"{unique}-n"
    backend.admin.create_node(node)
    version = _eviction_version(backend)
    backend.admin.create_pod(ns, "free", node, {"app": "free"})
    assert _evict(backend, ns, "free", version).status_code == 201
    assert _evict(backend, ns, "missing", version).status_code == 404
    backend.admin.create_pod(ns, "guarded", node, {"app": "guarded"})
    backend.admin.create_pdb(ns, "guard", {"app": "guarded"})
    resp = _evict(backend, ns, "guarded", version)
    assert resp.status_code == 429
    assert "disruption budget" in resp.json()["message"]
    backend.admin.set_pdb_allowed(ns, "guard", 1)
    backend.admin.create_pdb(ns, "guard2", {"app": "guarded"})
    backend.admin.set_pdb_allowed(ns, "guard2", 1)
    assert _evict(backend, ns, "guarded", version).status_code == 500
