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
    assert any(f.startswith("metadata.taints[") for f in fields)  # sic: the real server's path


def test_noop_write_keeps_resource_version(backend, unique):
    name = f"{unique}-n"
    node = backend.admin.create_node(name)
    after = backend.admin.ok("PATCH", f"/api/v1/nodes/{name}", {"metadata": {"labels": {}}}, content_type=MERGE)
    assert after["metadata"]["resourceVersion"] == node["metadata"]["resourceVersion"]


def test_bad_token_401_and_read_only_viewer_403(backend, unique):
    from tests.contract.harness import Harness
    resp = Harness(backend.url, "wrong").req("GET", "/api/v1/nodes")
    assert resp.status_code == 401 and resp.json()["reason"] == "Unauthorized"
    name = f"{unique}-n"
    backend.admin.create_node(name)
    assert backend.viewer.req("GET", "/api/v1/nodes").status_code == 200
    assert backend.viewer.req("GET", f"/api/v1/nodes/{name}").status_code == 200
    resp = backend.viewer.req("PATCH", f"/api/v1/nodes/{name}", {"spec": {"unschedulable": True}},
                              content_type=STRATEGIC)
    assert resp.status_code == 403
    body = resp.json()
    assert body["reason"] == "Forbidden" and body["details"] == {"name": name, "kind": "nodes"}
    assert body["message"] == (f'nodes "{name}" is forbidden: User "viewer" cannot patch resource "nodes" '
                               'in API group "" at the cluster scope')
    resp = backend.viewer.req("POST", "/api/v1/namespaces/default/pods/x/eviction", {
        "apiVersion": "policy/v1beta1", "kind": "Eviction", "metadata": {"name": "x", "namespace": "default"}})
    assert resp.status_code == 403
    assert resp.json()["message"] == ('pods "x" is forbidden: User "viewer" cannot create resource "pods/eviction" '
                                      'in API group "" in the namespace "default"')



def _forbidden(user, verb, resource, group="", name="", namespace=""):
    """The real server's Status for an RBAC denial (k8s.io/apimachinery NewForbidden)."""
    plural = resource.split("/")[0]
    what = f"{plural}.{group}" if group else plural
    subject = f'{what} "{name}" is forbidden' if name else f"{what} is forbidden"
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Forbidden",
            "code": 403, "details": {**({"name": name} if name else {}), **({"group": group} if group else {}),
                                     "kind": plural},
            "message": f'{subject}: User "{user}" cannot {verb} resource "{resource}" in API group "{group}" {where}'}


def test_nobody_is_forbidden_every_resource(backend, unique):
    """A user bound to nothing: 403 on reads and writes alike, also for a missing object or a resource the
    server may not serve (authorization comes before routing, so a denied request learns nothing)."""
    ns, name = unique, f"{unique}-n"
    backend.admin.create_node(name)
    backend.admin.create_pod(ns, "p", name)
    policy = _eviction_version(backend)
    nobody = backend.nobody
    cases = [
        (("GET", "/api/v1/nodes"), ("list", "nodes")),
        (("GET", "/api/v1/nodes", None, "application/json", {"watch": "true"}), ("watch", "nodes")),
        (("GET", f"/api/v1/nodes/{name}"), ("get", "nodes", "", name)),
        (("GET", f"/api/v1/nodes/{unique}-gone"), ("get", "nodes", "", f"{unique}-gone")),
        (("GET", "/api/v1/pods"), ("list", "pods")),
        (("GET", f"/api/v1/namespaces/{ns}/pods"), ("list", "pods", "", "", ns)),
        (("GET", f"/api/v1/namespaces/{ns}/pods/p"), ("get", "pods", "", "p", ns)),
        (("GET", f"/api/v1/namespaces/{ns}"), ("get", "namespaces", "", ns, ns)),
        (("GET", "/apis/apps/v1/daemonsets"), ("list", "daemonsets", "apps")),
        (("GET", f"/apis/policy/{policy}/poddisruptionbudgets"), ("list", "poddisruptionbudgets", "policy")),
        (("GET", "/api/v1/configmaps"), ("list", "configmaps")),
        (("PATCH", f"/api/v1/nodes/{name}", {"spec": {"unschedulable": True}}, STRATEGIC),
         ("patch", "nodes", "", name)),
        (("PATCH", f"/api/v1/nodes/{name}/status", {"status": {}}, MERGE), ("patch", "nodes/status", "", name)),
        (("PUT", f"/api/v1/nodes/{name}", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}),
         ("update", "nodes", "", name)),
        (("DELETE", f"/api/v1/nodes/{name}"), ("delete", "nodes", "", name)),
        (("DELETE", f"/api/v1/namespaces/{ns}/pods"), ("deletecollection", "pods", "", "", ns)),
        (("POST", f"/api/v1/namespaces/{ns}/pods/p/eviction", {"apiVersion": f"policy/{policy}", "kind": "Eviction",
                                                               "metadata": {"name": "p", "namespace": ns}}),
         ("create", "pods/eviction", "", "p", ns)),
    ]
    for request, expected in cases:
        method, path, body, content_type, params = request + (None, "application/json", {})[len(request) - 2:]
        resp = nobody.req(method, path, body, content_type=content_type, **params)
        assert (resp.status_code, resp.json()) == (403, _forbidden("nobody", *expected)), (method, path)
    node = backend.admin.ok("GET", f"/api/v1/nodes/{name}")
    assert not node["spec"].get("unschedulable")
    assert backend.admin.ok("GET", f"/api/v1/namespaces/{ns}/pods/p")["metadata"].get("deletionTimestamp") is None


def test_nobody_may_read_discovery_and_review_its_access(backend):
    """Every authenticated user may read discovery (system:discovery) and ask what it may do (system:basic-user);
    /version needs no token at all."""
    nobody, admin = backend.nobody, backend.admin
    for path in ("/version", "/api", "/apis", "/api/v1", "/apis/apps/v1"):
        resp = nobody.req("GET", path)
        assert resp.status_code == 200, path
        assert resp.json() == admin.ok("GET", path), path
    review = nobody.ok("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "list", "resource": "nodes"}}})
    assert review["kind"] == "SelfSubjectAccessReview" and review["status"]["allowed"] is False

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


def test_not_found_status_names_the_plural(backend, unique):
    resp = backend.admin.req("GET", f"/api/v1/nodes/{unique}-gone")
    body = resp.json()
    assert resp.status_code == 404 and body["kind"] == "Status" and body["reason"] == "NotFound"
    assert body["details"] == {"name": f"{unique}-gone", "kind": "nodes"}
    assert body["message"] == f'nodes "{unique}-gone" not found'


def test_unschedulable_false_is_omitted(backend, unique):
    name = f"{unique}-n"
    backend.admin.create_node(name)
    node = backend.admin.ok("PATCH", f"/api/v1/nodes/{name}", {"spec": {"unschedulable": True}},
                            content_type=STRATEGIC)
    assert node["spec"]["unschedulable"] is True
    node = backend.admin.ok("PATCH", f"/api/v1/nodes/{name}", {"spec": {"unschedulable": False}},
                            content_type=STRATEGIC)
    assert "unschedulable" not in node["spec"]
    names = [n["metadata"]["name"] for n in backend.admin.ok(
        "GET", "/api/v1/nodes", fieldSelector="spec.unschedulable=true")["items"]]
    assert name not in names


def test_status_patch_changes_only_status(backend, unique):
    name = f"{unique}-n"
    backend.admin.create_node(name)
    node = backend.admin.ok("PATCH", f"/api/v1/nodes/{name}/status", {
        "metadata": {"labels": {"sneaky": "1"}}, "spec": {"unschedulable": True},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]}},
        content_type=STRATEGIC)
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert [c["status"] for c in ready] == ["False"]
    assert "unschedulable" not in node["spec"]
    node = backend.admin.ok("PATCH", f"/api/v1/nodes/{name}", {"status": {"phase": "Gone"}}, content_type=MERGE)
    assert [c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready"] == ["False"]


def test_pod_field_selectors(backend, unique):
    ns, node = unique, f"{unique}-n"
    backend.admin.create_node(node)
    backend.admin.create_pod(ns, "a", node, {"app": "a"})
    names = [p["metadata"]["name"] for p in backend.admin.ok(
        "GET", "/api/v1/pods", fieldSelector=f"spec.nodeName={node},status.phase=Running")["items"]]
    assert names == ["a"]
    assert backend.admin.ok("GET", f"/api/v1/namespaces/{ns}/pods", fieldSelector="status.phase!=Running")[
        "items"] == []
    assert backend.admin.req("GET", "/api/v1/pods", fieldSelector="spec.containers=x").status_code == 400


def test_graceful_pod_delete_keeps_a_bound_pod_until_finalized(backend, unique):
    ns, node = unique, f"{unique}-n"
    backend.admin.create_node(node)
    backend.admin.create_pod(ns, "slow", node, grace=30)
    resp = backend.admin.req("DELETE", f"/api/v1/namespaces/{ns}/pods/slow",
                             {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "nope"}})
    assert resp.status_code == 409 and resp.json()["reason"] == "Conflict"
    resp = backend.admin.req("DELETE", f"/api/v1/namespaces/{ns}/pods/slow")
    assert resp.status_code == 200
    pod = backend.admin.ok("GET", f"/api/v1/namespaces/{ns}/pods/slow")
    assert pod["metadata"]["deletionTimestamp"] and pod["metadata"]["deletionGracePeriodSeconds"] == 30
    backend.admin.create_pod(ns, "quick", node, grace=30)
    assert backend.admin.req("DELETE", f"/api/v1/namespaces/{ns}/pods/quick", gracePeriodSeconds=0).status_code == 200
    assert backend.admin.req("GET", f"/api/v1/namespaces/{ns}/pods/quick").status_code == 404


def test_eviction_preconditions_and_name_mismatch(backend, unique):
    ns, node = unique, f"{unique}-n"
    backend.admin.create_node(node)
    version = _eviction_version(backend)
    backend.admin.create_pod(ns, "p", node)
    resp = backend.admin.req("POST", f"/api/v1/namespaces/{ns}/pods/p/eviction", {
        "apiVersion": f"policy/{version}", "kind": "Eviction", "metadata": {"name": "other", "namespace": ns}})
    assert resp.status_code == 400
    resp = backend.admin.req("POST", f"/api/v1/namespaces/{ns}/pods/p/eviction", {
        "apiVersion": f"policy/{version}", "kind": "Eviction", "metadata": {"name": "p", "namespace": ns},
        "deleteOptions": {"preconditions": {"uid": "not-the-uid"}}})
    assert resp.status_code == 409
    resp = backend.admin.req("POST", f"/api/v1/namespaces/{ns}/pods/p/eviction", {
        "apiVersion": f"policy/{version}", "kind": "Eviction", "metadata": {"name": "p", "namespace": ns},
        "deleteOptions": {"gracePeriodSeconds": 30}})
    assert resp.status_code == 201 and resp.json()["status"] == "Success"
    pod = backend.admin.ok("GET", f"/api/v1/namespaces/{ns}/pods/p")
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 30


def test_budget_not_yet_observed_is_429(backend, unique):
    ns, node = unique, f"{unique}-n"
    backend.admin.create_node(node)
    version = _eviction_version(backend)
    backend.admin.create_pod(ns, "p", node, {"app": "p"})
    backend.admin.create_pdb(ns, "b", {"app": "p"})
    backend.admin.set_pdb_allowed(ns, "b", 1, generation=0)
    resp = _evict(backend, ns, "p", version)
    assert resp.status_code == 429
    assert resp.json()["details"]["causes"][0]["message"] == (
        "The disruption budget b is still being processed by the server.")


def test_watch_from_a_resource_version(backend, unique):
    import json

    name = f"{unique}-n"
    node = backend.admin.create_node(name)
    rv = node["metadata"]["resourceVersion"]
    backend.admin.ok("PATCH", f"/api/v1/nodes/{name}", {"metadata": {"labels": {"w": "1"}}}, content_type=MERGE)
    backend.admin.ok("PATCH", f"/api/v1/nodes/{name}", {"metadata": {"labels": {"w": "1"}}}, content_type=MERGE)
    resp = backend.admin.http.get(backend.url + "/api/v1/nodes", params={
        "watch": "1", "resourceVersion": rv, "fieldSelector": f"metadata.name={name}", "timeoutSeconds": 1},
        timeout=30, verify=False)
    events = [json.loads(line) for line in resp.text.splitlines() if line.strip()]
    assert [(e["type"], e["object"]["metadata"]["labels"].get("w")) for e in events] == [("MODIFIED", "1")]
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) > int(rv)


def test_names_are_validated_on_create(backend, unique):
    resp = backend.admin.req("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                                       "metadata": {"name": f"{unique}_Bad"}})
    assert resp.status_code == 422
    assert [c["field"] for c in resp.json()["details"]["causes"]] == ["metadata.name"]
    resp = backend.admin.req("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {}})
    assert resp.status_code == 422
    assert resp.json()["message"] == ('Node "" is invalid: metadata.name: Required value: name or generateName is '
                                      'required')


def test_empty_label_selector_terms_are_400(backend):
    for selector in ("a=1,", "a=1,,b=2", ",a"):
        assert backend.admin.req("GET", "/api/v1/nodes", labelSelector=selector).status_code == 400, selector


def test_uid_precondition_conflict_names_the_kind(backend, unique):
    ns, node = unique, f"{unique}-n"
    backend.admin.create_node(node)
    pod = backend.admin.create_pod(ns, "p", node)
    resp = backend.admin.req("DELETE", f"/api/v1/namespaces/{ns}/pods/p",
                             {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "x"}})
    assert resp.status_code == 409
    assert resp.json()["message"] == (
        f'Operation cannot be fulfilled on Pod "p": the UID in the precondition (x) does not match the UID in '
        f'record ({pod["metadata"]["uid"]}). The object might have been deleted and then recreated')
    assert resp.json()["details"] == {"name": "p", "kind": "Pod"}


def test_second_graceful_delete_only_shortens(backend, unique):
    ns, node = unique, f"{unique}-n"
    backend.admin.create_node(node)
    backend.admin.create_pod(ns, "p", node, grace=30)
    path = f"/api/v1/namespaces/{ns}/pods/p"
    backend.admin.ok("DELETE", path, gracePeriodSeconds=60)
    backend.admin.ok("DELETE", path)  # no grace period given: the pending deletion stays as it is
    assert backend.admin.ok("GET", path)["metadata"]["deletionGracePeriodSeconds"] == 60
    backend.admin.ok("DELETE", path, gracePeriodSeconds=90)
    assert backend.admin.ok("GET", path)["metadata"]["deletionGracePeriodSeconds"] == 60
    backend.admin.ok("DELETE", path, gracePeriodSeconds=40)
    assert backend.admin.ok("GET", path)["metadata"]["deletionGracePeriodSeconds"] == 40


def test_eviction_success_status(backend, unique):
    ns, node = unique, f"{unique}-n"
    backend.admin.create_node(node)
    backend.admin.create_pod(ns, "p", node)
    resp = _evict(backend, ns, "p", _eviction_version(backend))
    assert resp.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def test_kubernetes_1_20_serves_policy_v1beta1_only(backend_1_20, unique):
    """The real 1.20 server and the simulator mimicking it (--eviction-version v1beta1)."""
    admin = backend_1_20.admin
    groups = {g["name"]: [v["version"] for v in g["versions"]] for g in admin.ok("GET", "/apis")["groups"]}
    assert groups["policy"] == ["v1beta1"]
    eviction = next(r for r in admin.ok("GET", "/api/v1")["resources"] if r["name"] == "pods/eviction")
    assert (eviction["group"], eviction["version"]) == ("policy", "v1beta1")
    assert admin.req("GET", "/apis/policy/v1/poddisruptionbudgets").status_code == 404
    assert admin.req("GET", "/apis/policy/v1beta1/poddisruptionbudgets").status_code == 200
    ns, node = unique, f"{unique}-n"
    admin.create_node(node)
    admin.create_pod(ns, "p", node)
    resp = admin.req("POST", f"/api/v1/namespaces/{ns}/pods/p/eviction", {
        "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p", "namespace": ns}})
    assert resp.status_code == 400
    assert resp.json()["message"].startswith('Eviction in version "v1" cannot be handled as a Eviction: no kind '
                                             '"Eviction" is registered for version "policy/v1"')
    resp = admin.req("POST", f"/api/v1/namespaces/{ns}/pods/p/eviction", {
        "apiVersion": "policy/v1beta1", "kind": "Eviction", "metadata": {"name": "p", "namespace": ns}})
    assert resp.status_code == 201
