"""The simulated API server through the official Python client over real HTTP."""

import json
import time

import kubernetes
import pytest
from kubernetes.client import ApiException

from tests.fixtures.kube import start_kube_sim
from tests.sim.helpers import client_for, core, raw


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    sim = start_kube_sim(tmp_path_factory.mktemp("sim_api"), nodes=50, seed=7)
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def v1(sim):
    return core(sim)


def status_of(exc: ApiException) -> dict:
    return json.loads(exc.body)


def expect_error(code, call, *args, **kwargs) -> dict:
    with pytest.raises(ApiException) as info:
        call(*args, **kwargs)
    assert info.value.status == code, info.value.body
    body = status_of(info.value)
    assert body["kind"] == "Status" and body["code"] == code and body["status"] == "Failure"
    return body


def test_discovery_lists_eviction_as_policy_v1(sim):
    api = client_for(sim)
    resources = kubernetes.client.CoreV1Api(api).get_api_resources().resources
    eviction = next(r for r in resources if r.name == "pods/eviction")
    assert (eviction.group, eviction.version, eviction.kind) == ("policy", "v1", "Eviction")
    groups = {g.name: [v.version for v in g.versions] for g in kubernetes.client.ApisApi(api).get_api_versions().groups}
    assert groups["apps"] == ["v1"] and "v1" in groups["policy"]
    assert kubernetes.client.VersionApi(api).get_code().major == "1"


def test_generated_cluster_is_realistic(v1):
    nodes = v1.list_node().items
    assert len(nodes) == 50
    control = [n for n in nodes if "node-role.kubernetes.io/control-plane" in n.metadata.labels]
    assert len(control) == 3
    assert all(any(t.key == "node-role.kubernetes.io/control-plane" and t.effect == "NoSchedule"
                   for t in n.spec.taints) for n in control)
    assert {n.metadata.labels["topology.kubernetes.io/zone"] for n in nodes} == {"zone-a", "zone-b", "zone-c"}
    assert any("nvidia.com/gpu" in n.status.capacity for n in nodes)
    ready = [next(c.status for c in n.status.conditions if c.type == "Ready") for n in nodes]
    assert "True" in ready and {"False", "Unknown"} & set(ready)
    pods = v1.list_pod_for_all_namespaces().items
    kinds = {(p.metadata.owner_references or [None])[0].kind if p.metadata.owner_references else None for p in pods}
    assert {"DaemonSet", "ReplicaSet", "Node", None} <= kinds
    assert any((p.metadata.annotations or {}).get("kubernetes.io/config.mirror") for p in pods)
    assert any(any(v.empty_dir is not None for v in p.spec.volumes or []) for p in pods)
    assert any(p.status.phase == "Succeeded" for p in pods)


@pytest.mark.parametrize("selector, expected", [
    ("node-role.kubernetes.io/control-plane", 3),
    ("!node-role.kubernetes.io/control-plane", 47),
    ("topology.kubernetes.io/zone=zone-a", None),
    ("topology.kubernetes.io/zone==zone-a", None),
    ("topology.kubernetes.io/zone in (zone-a,zone-b)", None),
    ("topology.kubernetes.io/zone notin (zone-a)", None),
    ("topology.kubernetes.io/zone!=zone-a,kubernetes.io/os=linux", None),
])
def test_label_selectors(v1, selector, expected):
    nodes = v1.list_node().items
    got = {n.metadata.name for n in v1.list_node(label_selector=selector).items}
    zone = {n.metadata.name: n.metadata.labels["topology.kubernetes.io/zone"] for n in nodes}
    if expected is not None:
        assert len(got) == expected
    elif "notin" in selector or "!=" in selector:
        assert got == {n for n, z in zone.items() if z != "zone-a"}
    elif " in " in selector:
        assert got == {n for n, z in zone.items() if z in ("zone-a", "zone-b")}
    else:
        assert got == {n for n, z in zone.items() if z == "zone-a"}


def test_field_selectors_and_bad_ones(v1):
    assert [n.metadata.name for n in v1.list_node(field_selector="metadata.name=worker-0005").items] == [
        "worker-0005"]
    assert len(v1.list_node(field_selector="spec.unschedulable=false").items) == 50
    body = expect_error(400, v1.list_node, field_selector="status.phase=Running")
    assert body["message"] == "field label not supported: status.phase"
    expect_error(400, v1.list_node, label_selector="a in (b")
    pods = v1.list_pod_for_all_namespaces(field_selector="spec.nodeName=worker-0001,status.phase=Running").items
    assert pods and all(p.spec.node_name == "worker-0001" for p in pods)
    kube_system = v1.list_namespaced_pod("kube-system", label_selector="app=kube-proxy").items
    assert len(kube_system) == 50
    expect_error(400, v1.list_pod_for_all_namespaces, field_selector="spec.foo=bar")


def test_limit_and_continue_page_through_everything(v1):
    names, token = [], None
    while True:
        page = v1.list_node(limit=20, _continue=token)
        names += [n.metadata.name for n in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert len(names) == 50 and len(set(names)) == 50


def test_strategic_merge_patch_labels_taints_conditions(v1):
    name = "worker-0010"
    before = v1.read_node(name)
    node = v1.patch_node(name, {"metadata": {"labels": {"team": "blue"}}, "spec": {"taints": [
        {"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}})
    assert node.metadata.labels["team"] == "blue"
    assert [(t.key, t.effect) for t in node.spec.taints] == [("dedicated", "NoSchedule")]  # whole list replaced
    assert int(node.metadata.resource_version) > int(before.metadata.resource_version)
    node = v1.patch_node(name, {"metadata": {"labels": {"team": None}}})
    assert "team" not in node.metadata.labels
    # a no-op write bumps nothing
    again = v1.patch_node(name, {"metadata": {"labels": {"kubernetes.io/os": "linux"}}})
    assert again.metadata.resource_version == node.metadata.resource_version
    # conditions merge by type on /status; the main resource ignores status
    status = v1.patch_node_status(name, {"status": {"conditions": [{"type": "Ready", "status": "False",
                                                                     "reason": "Test"}]}})
    conditions = {c.type: c.status for c in status.status.conditions}
    assert conditions["Ready"] == "False" and conditions["MemoryPressure"] == "False"
    ignored = v1.patch_node(name, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert {c.type: c.status for c in ignored.status.conditions}["Ready"] == "False"


def test_merge_patch_and_json_patch(sim, v1):
    name = "worker-0011"

    def patch(body, content_type):
        code, answer = raw(sim, "PATCH", f"/api/v1/nodes/{name}", body, content_type)
        if code >= 400:
            raise ApiException(status=code, reason=answer["reason"])
        return answer

    node = patch({"metadata": {"labels": {"x": "1", "y/z": "2"}}}, "application/merge-patch+json")
    assert node["metadata"]["labels"]["x"] == "1"
    node = patch([{"op": "test", "path": "/metadata/labels/x", "value": "1"},
                  {"op": "remove", "path": "/metadata/labels/y~1z"},
                  {"op": "copy", "from": "/metadata/labels/x", "path": "/metadata/labels/w"},
                  {"op": "move", "from": "/metadata/labels/x", "path": "/metadata/labels/v"},
                  {"op": "add", "path": "/spec/taints", "value": []},
                  {"op": "add", "path": "/spec/taints/-", "value": {"key": "k", "effect": "NoExecute"}}],
                 "application/json-patch+json")
    labels = node["metadata"]["labels"]
    assert "y/z" not in labels and "x" not in labels and labels["w"] == labels["v"] == "1"
    assert node["spec"]["taints"] == [{"key": "k", "effect": "NoExecute"}]
    path = f"/api/v1/nodes/{name}"
    jp = "application/json-patch+json"
    code, body = raw(sim, "PATCH", path, [{"op": "test", "path": "/metadata/labels/w", "value": "nope"}], jp)
    assert (code, body["reason"]) == (422, "Invalid")
    code, body = raw(sim, "PATCH", path, [{"op": "remove", "path": "/metadata/labels/missing"}], jp)
    assert (code, body["reason"]) == (422, "Invalid")
    code, body = raw(sim, "PATCH", path, {"metadata": {}}, "text/plain")
    assert (code, body["reason"]) == (415, "UnsupportedMediaType")
    # a stale resourceVersion in the patch is a conflict
    code, body = raw(sim, "PATCH", path, {"metadata": {"resourceVersion": "1", "labels": {"q": "r"}}},
                     "application/merge-patch+json")
    assert (code, body["reason"]) == (409, "Conflict")
    current = v1.read_node(name).metadata.resource_version
    code, body = raw(sim, "PATCH", path, [{"op": "test", "path": "/metadata/resourceVersion",
                                           "value": str(int(current) - 1)}], jp)
    assert code == 422
    assert "q" not in v1.read_node(name).metadata.labels


@pytest.mark.parametrize("patch, field", [
    ({"metadata": {"labels": {"-bad": "x"}}}, "metadata.labels"),
    ({"metadata": {"labels": {"/empty-prefix": "x"}}}, "metadata.labels"),
    ({"metadata": {"labels": {"UPPER.example.com/x": "x"}}}, "metadata.labels"),
    ({"metadata": {"labels": {"ok": "bad value"}}}, "metadata.labels"),
    ({"metadata": {"labels": {"ok": "v" * 64}}}, "metadata.labels"),
    ({"metadata": {"labels": {"n" * 64: "v"}}}, "metadata.labels"),
    ({"spec": {"taints": [{"key": "a", "effect": "Sometimes"}]}}, "metadata.taints[0].effect"),
    ({"spec": {"taints": [{"key": "a"}]}}, "metadata.taints[0].effect"),
    ({"spec": {"taints": [{"key": "bad key", "effect": "NoSchedule"}]}}, "metadata.taints[0].key"),
    ({"spec": {"taints": [{"key": "a", "value": "b c", "effect": "NoSchedule"}]}}, "metadata.taints[0].value"),
    ({"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "a", "value": "x", "effect": "NoSchedule"}]}},
     "metadata.taints[1]"),
])
def test_validation_422_names_the_field_and_changes_nothing(v1, patch, field):
    before = v1.read_node("worker-0012")
    body = expect_error(422, v1.patch_node, "worker-0012", patch)
    assert body["reason"] == "Invalid"
    assert field in [c["field"] for c in body["details"]["causes"]]
    assert v1.read_node("worker-0012").metadata.resource_version == before.metadata.resource_version


def test_kubernetes_io_prefix_is_allowed_for_admin(v1):
    node = v1.patch_node("worker-0012", {"metadata": {"labels": {"kubernetes.io/custom": "yes"}}})
    assert node.metadata.labels["kubernetes.io/custom"] == "yes"


def test_put_with_stale_resource_version_conflicts(v1):
    node = v1.read_node("worker-0013")
    node.metadata.labels["fresh"] = "1"
    updated = v1.replace_node("worker-0013", node)
    node.metadata.labels["stale"] = "1"
    body = expect_error(409, v1.replace_node, "worker-0013", node)
    assert body["reason"] == "Conflict"
    assert "stale" not in v1.read_node("worker-0013").metadata.labels
    assert updated.spec.unschedulable is None


def test_not_found_and_create_delete_node(v1):
    body = expect_error(404, v1.read_node, "no-such-node")
    assert body["details"] == {"name": "no-such-node", "kind": "nodes"}
    created = v1.create_node({"metadata": {"name": "extra-node", "labels": {"a": "b"}}})
    assert created.metadata.uid
    expect_error(409, v1.create_node, {"metadata": {"name": "extra-node"}})
    v1.delete_node("extra-node")
    expect_error(404, v1.read_node, "extra-node")


def test_watch_events_bookmarks_and_expired(v1):
    start = v1.list_node(limit=1).metadata.resource_version
    v1.patch_node("worker-0014", {"metadata": {"labels": {"watched": "1"}}})
    v1.patch_node("worker-0015", {"metadata": {"labels": {"other": "1"}}})
    events = list(kubernetes.watch.Watch().stream(v1.list_node, resource_version=start, timeout_seconds=1,
                                                  field_selector="metadata.name=worker-0014"))
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("MODIFIED", "worker-0014")]
    initial = list(kubernetes.watch.Watch().stream(v1.list_node, timeout_seconds=1,
                                                   label_selector="node-role.kubernetes.io/control-plane"))
    assert [e["type"] for e in initial] == ["ADDED"] * 3
    raw = v1.list_node(watch=True, resource_version=v1.list_node(limit=1).metadata.resource_version,
                       allow_watch_bookmarks=True, timeout_seconds=2, _preload_content=False)
    lines = [json.loads(line) for line in raw.read().splitlines() if line]
    assert lines and all(e["type"] == "BOOKMARK" for e in lines)
    with pytest.raises(ApiException) as info:
        list(kubernetes.watch.Watch().stream(v1.list_node, resource_version="1", timeout_seconds=1))
    assert info.value.status == 410


def _rs_pod_with_budget(sim, v1, allowed: bool):
    policy = kubernetes.client.PolicyV1Api(client_for(sim))
    for pdb in policy.list_pod_disruption_budget_for_all_namespaces().items:
        if (pdb.status.disruptions_allowed > 0) == allowed:
            selector = ",".join(f"{k}={v}" for k, v in pdb.spec.selector.match_labels.items())
            pods = v1.list_namespaced_pod(pdb.metadata.namespace, label_selector=selector).items
            running = [p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]
            if running:
                return pdb, running[0]
    raise AssertionError("no such budget")


def test_eviction_allowed_then_pod_terminates_and_is_replaced(sim, v1):
    pdb, pod = _rs_pod_with_budget(sim, v1, allowed=True)
    ns, name = pod.metadata.namespace, pod.metadata.name
    v1.create_namespaced_pod_eviction(name, ns, kubernetes.client.V1Eviction(
        metadata=kubernetes.client.V1ObjectMeta(name=name, namespace=ns)))
    terminating = v1.read_namespaced_pod(name, ns)
    assert terminating.metadata.deletion_timestamp is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            v1.read_namespaced_pod(name, ns)
        except ApiException as exc:
            assert exc.status == 404
            break
        time.sleep(0.1)
    else:
        raise AssertionError("pod never went away")
    policy = kubernetes.client.PolicyV1Api(client_for(sim))
    while time.monotonic() < deadline:  # the ReplicaSet replaces it and the budget recovers
        status = policy.read_namespaced_pod_disruption_budget(pdb.metadata.name, ns).status
        if status.current_healthy == status.expected_pods:
            break
        time.sleep(0.1)
    assert status.current_healthy == status.expected_pods
    assert status.disruptions_allowed == status.current_healthy - status.desired_healthy


def test_eviction_blocked_by_budget_is_429(sim, v1):
    pdb, pod = _rs_pod_with_budget(sim, v1, allowed=False)
    ns, name = pod.metadata.namespace, pod.metadata.name
    body = expect_error(429, v1.create_namespaced_pod_eviction, name, ns, {
        "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns}})
    assert body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    cause = body["details"]["causes"][0]
    assert cause["reason"] == "DisruptionBudget"
    assert cause["message"].startswith(f"The disruption budget {pdb.metadata.name} needs ")
    assert v1.read_namespaced_pod(name, ns).metadata.deletion_timestamp is None


def test_eviction_two_budgets_404_409_and_v1beta1(sim, v1):
    pdb, pod = _rs_pod_with_budget(sim, v1, allowed=True)
    ns, name = pod.metadata.namespace, pod.metadata.name
    policy = kubernetes.client.PolicyV1Api(client_for(sim))
    policy.create_namespaced_pod_disruption_budget(ns, {"metadata": {"name": "second"}, "spec": {
        "maxUnavailable": 1, "selector": {"matchLabels": pdb.spec.selector.match_labels}}})
    try:
        body = expect_error(500, v1.create_namespaced_pod_eviction, name, ns, {"metadata": {"name": name}})
        assert "more than one PodDisruptionBudget" in body["message"]
    finally:
        policy.delete_namespaced_pod_disruption_budget("second", ns)
    body = expect_error(404, v1.create_namespaced_pod_eviction, "ghost", ns, {"metadata": {"name": "ghost"}})
    assert body["details"]["kind"] == "pods"
    expect_error(409, v1.create_namespaced_pod_eviction, name, ns, {
        "metadata": {"name": name}, "deleteOptions": {"preconditions": {"uid": "not-the-uid"}}})
    code, result = raw(sim, "POST", f"/api/v1/namespaces/{ns}/pods/{name}/eviction", {
        "apiVersion": "policy/v1beta1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns}})
    assert code == 201 and result["kind"] == "Status" and result["code"] == 201


def test_graceful_delete_and_uid_precondition(v1):
    ns = "default"
    v1.create_namespaced_pod(ns, {"metadata": {"name": "graceful"}, "spec": {
        "nodeName": "worker-0016", "containers": [{"name": "c", "image": "x"}]}})
    expect_error(409, v1.delete_namespaced_pod, "graceful", ns,
                 body=kubernetes.client.V1DeleteOptions(preconditions=kubernetes.client.V1Preconditions(uid="no")))
    v1.delete_namespaced_pod("graceful", ns, grace_period_seconds=30)
    pod = v1.read_namespaced_pod("graceful", ns)
    assert pod.metadata.deletion_timestamp is not None and pod.metadata.deletion_grace_period_seconds == 30
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            v1.read_namespaced_pod("graceful", ns)
            time.sleep(0.1)
        except ApiException as exc:
            assert exc.status == 404
            return
    raise AssertionError("the kubelet never finished the pod")


def test_immediate_delete_and_finalizer_keeps_pod(v1):
    ns = "default"
    v1.create_namespaced_pod(ns, {"metadata": {"name": "quick"}, "spec": {
        "nodeName": "worker-0016", "containers": [{"name": "c", "image": "x"}]}})
    v1.delete_namespaced_pod("quick", ns, grace_period_seconds=0)
    expect_error(404, v1.read_namespaced_pod, "quick", ns)
    v1.create_namespaced_pod(ns, {"metadata": {"name": "stuck", "finalizers": ["example.com/hold"]}, "spec": {
        "nodeName": "worker-0016", "containers": [{"name": "c", "image": "x"}]}})
    v1.delete_namespaced_pod("stuck", ns, grace_period_seconds=1)
    time.sleep(1.5)
    assert v1.read_namespaced_pod("stuck", ns).metadata.deletion_timestamp is not None
    v1.patch_namespaced_pod("stuck", ns, {"metadata": {"finalizers": None}})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            v1.read_namespaced_pod("stuck", ns)
            time.sleep(0.1)
        except ApiException as exc:
            assert exc.status == 404
            return
    raise AssertionError("pod stayed after its finalizer was removed")


def test_daemonset_get(sim):
    apps = kubernetes.client.AppsV1Api(client_for(sim))
    ds = apps.read_namespaced_daemon_set("kube-proxy", "kube-system")
    assert ds.metadata.uid and ds.spec.selector.match_labels == {"app": "kube-proxy"}


def test_auth_401_and_viewer_403(sim):
    body = expect_error(401, core(sim, "wrong-token").list_node)
    assert body["reason"] == "Unauthorized"
    viewer = core(sim, sim.viewer_token)
    assert len(viewer.list_node().items) == 50
    body = expect_error(403, viewer.patch_node, "worker-0017", {"metadata": {"labels": {"a": "b"}}})
    assert body["reason"] == "Forbidden"
    assert body["message"] == ('nodes "worker-0017" is forbidden: User "viewer" cannot patch resource "nodes" in '
                               'API group "" at the cluster scope')
    assert "a" not in core(sim).read_node("worker-0017").metadata.labels
    pod = core(sim).list_namespaced_pod("shop").items[0]
    body = expect_error(403, viewer.create_namespaced_pod_eviction, pod.metadata.name, "shop",
                        {"metadata": {"name": pod.metadata.name}})
    assert 'cannot create resource "pods/eviction"' in body["message"]



def test_nobody_403_everywhere_but_discovery(sim):
    nobody = core(sim, sim.nobody_token)
    body = expect_error(403, nobody.list_node)
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Forbidden",
                    "code": 403, "details": {"kind": "nodes"},
                    "message": 'nodes is forbidden: User "nobody" cannot list resource "nodes" in API group "" at '
                               'the cluster scope'}
    body = expect_error(403, nobody.read_node, "no-such-node")  # forbidden before any lookup: no 404
    assert body["details"] == {"name": "no-such-node", "kind": "nodes"}
    body = expect_error(403, nobody.patch_node, "worker-0017", {"metadata": {"labels": {"a": "b"}}})
    assert 'User "nobody" cannot patch resource "nodes"' in body["message"]
    assert "a" not in core(sim).read_node("worker-0017").metadata.labels
    code, body = raw(sim, "GET", "/api/v1/namespaces/shop/secrets", token=sim.nobody_token)  # not even served
    assert code == 403 and body["message"] == ('secrets is forbidden: User "nobody" cannot list resource "secrets" '
                                               'in API group "" in the namespace "shop"')
    assert raw(sim, "GET", "/api/v1/namespaces/shop/secrets")[0] == 404  # the admin learns it is not served
    for path in ("/version", "/api", "/api/v1", "/apis", "/apis/apps/v1"):
        assert raw(sim, "GET", path, token=sim.nobody_token) == raw(sim, "GET", path), path
    assert raw(sim, "GET", "/api", token="wrong")[0] == 401
    code, review = raw(sim, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
        "spec": {"resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "shop"}}},
        token=sim.nobody_token)
    assert code == 201 and review["status"] == {"allowed": False}

def test_budget_status_written_by_a_client_decides_evictions(sim, v1):
    ns = "default"
    v1.create_namespaced_pod(ns, {"metadata": {"name": "guarded", "labels": {"guard": "me"}}, "spec": {
        "nodeName": "worker-0018", "containers": [{"name": "c", "image": "x"}]}})
    code, pdb = raw(sim, "POST", f"/apis/policy/v1beta1/namespaces/{ns}/poddisruptionbudgets", {
        "apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "guard"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"guard": "me"}}}})
    assert code == 201 and pdb["apiVersion"] == "policy/v1beta1"
    status_path = f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/guard/status"
    code, _ = raw(sim, "PATCH", status_path, {"status": {"observedGeneration": 0, "disruptionsAllowed": 1}},
                  "application/merge-patch+json")
    assert code == 200
    deadline = time.monotonic() + 5
    while v1.read_namespaced_pod("guarded", ns).status.phase != "Running" and time.monotonic() < deadline:
        time.sleep(0.05)
    body = expect_error(429, v1.create_namespaced_pod_eviction, "guarded", ns, {"metadata": {"name": "guarded"}})
    assert body["details"]["causes"][0]["message"] == "The disruption budget guard is still being processed by " \
                                                      "the server."
    raw(sim, "PATCH", status_path, {"status": {"observedGeneration": 1, "disruptionsAllowed": 0,
                                               "currentHealthy": 1, "desiredHealthy": 1}},
        "application/merge-patch+json")
    body = expect_error(429, v1.create_namespaced_pod_eviction, "guarded", ns, {"metadata": {"name": "guarded"}})
    assert body["details"]["causes"][0]["message"] == "The disruption budget guard needs 1 healthy pods and has 1 " \
                                                      "currently"
    raw(sim, "PATCH", status_path, {"status": {"disruptionsAllowed": 1}}, "application/merge-patch+json")
    time.sleep(0.2)  # the disruption controller leaves a client-managed status alone
    v1.create_namespaced_pod_eviction("guarded", ns, {"metadata": {"name": "guarded"}})
    code, after = raw(sim, "GET", f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/guard")
    assert after["status"]["disruptionsAllowed"] == 0 and "guarded" in after["status"]["disruptedPods"]


def test_pod_watch_sees_graceful_delete(sim, v1):
    ns = "default"
    start = v1.list_namespaced_pod(ns, limit=1).metadata.resource_version
    v1.create_namespaced_pod(ns, {"metadata": {"name": "watched"}, "spec": {
        "nodeName": "worker-0019", "containers": [{"name": "c", "image": "x"}]}})
    v1.delete_namespaced_pod("watched", ns, grace_period_seconds=1)
    seen = []
    for event in kubernetes.watch.Watch().stream(v1.list_namespaced_pod, ns, resource_version=start,
                                                 field_selector="metadata.name=watched", timeout_seconds=5):
        seen.append(event["type"])
        if event["type"] == "DELETED":
            break
    assert seen[0] == "ADDED" and seen[-1] == "DELETED" and "MODIFIED" in seen
