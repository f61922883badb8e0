"""Node reads and writes: labels, taints, cordon/uncordon — with optimistic concurrency and bounded retries."""

import time
from datetime import UTC, datetime

from django.utils.translation import gettext as _

from . import quantity
from .client import SMP, Kube, q
from .errors import KubeError

CONFLICT_RETRIES = 8
ANN_REASON = "kubenode.io/cordon-reason"
ANN_BY = "kubenode.io/cordoned-by"
ANN_AT = "kubenode.io/cordoned-at"
CORDON_ANNOTATIONS = (ANN_REASON, ANN_BY, ANN_AT)


def node_path(name: str) -> str:
    """The node's API path; a name that is not a node name never reaches the API server (`..` would be
    normalised into another path)."""
    from nodes.validation import node_name_error

    error = node_name_error(name)
    if error:
        raise KubeError(error, status=400, reason="Invalid")
    return f"/api/v1/nodes/{q(name)}"


# Pods that occupy a node: what `kubectl describe node` lists as "Non-terminated Pods".
ACTIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"
LIST_CHUNK = 5000


def _pages(kube: Kube, path: str, *, label_selector: str = "", field_selector: str = "", chunk: int = LIST_CHUNK):
    """The items of a list, page by page (the server pages when it supports limit/continue)."""
    token = None
    while True:
        doc = kube.request("GET", path, query={
            "labelSelector": label_selector, "fieldSelector": field_selector, "limit": chunk,
            "continue": token,
        }, timeout=(5, 120))
        yield doc.get("items") or []
        token = (doc.get("metadata") or {}).get("continue")
        if not token:
            return


def list_nodes(kube: Kube, *, label_selector: str = "", field_selector: str = "", chunk: int = LIST_CHUNK,
               ) -> list[dict]:
    """All nodes."""
    return [node for page in _pages(kube, "/api/v1/nodes", label_selector=label_selector,
                                    field_selector=field_selector, chunk=chunk) for node in page]


def pod_counts(kube: Kube, *, chunk: int = LIST_CHUNK) -> dict[str, int]:
    """Number of pods per node name, finished pods (Succeeded, Failed) left out: one cluster-wide list."""
    counts: dict[str, int] = {}
    for page in _pages(kube, "/api/v1/pods", field_selector=ACTIVE_PODS, chunk=chunk):
        for pod in page:
            node = (pod.get("spec") or {}).get("nodeName")
            if node:
                counts[node] = counts.get(node, 0) + 1
    return counts


def pod_resources(pod: dict) -> dict[str, float]:
    """What a pod asks of its node, as the scheduler counts it: the larger of the sum of its containers and its
    largest init container, plus the pod overhead; cpu in cores, memory in bytes."""
    spec = pod.get("spec") or {}
    out = {}
    for kind in ("requests", "limits"):
        for res in ("cpu", "memory"):
            main = sum(quantity.parse(((c.get("resources") or {}).get(kind) or {}).get(res)) or 0.0
                       for c in spec.get("containers") or [])
            init = max((quantity.parse(((c.get("resources") or {}).get(kind) or {}).get(res)) or 0.0
                        for c in spec.get("initContainers") or []), default=0.0)
            overhead = quantity.parse((spec.get("overhead") or {}).get(res)) or 0.0
            out[f"{res}_{kind}"] = max(main, init) + overhead
    return out


def pod_load(kube: Kube, *, chunk: int = LIST_CHUNK) -> tuple[dict[str, int], dict[str, dict[str, float]]]:
    """Per node name: the number of pods that are not finished, and the sum of their requests and limits
    (cpu_requests, memory_requests, cpu_limits, memory_limits). One cluster-wide list, as pod_counts."""
    counts: dict[str, int] = {}
    load: dict[str, dict[str, float]] = {}
    for page in _pages(kube, "/api/v1/pods", field_selector=ACTIVE_PODS, chunk=chunk):
        for pod in page:
            node = (pod.get("spec") or {}).get("nodeName")
            if node:
                counts[node] = counts.get(node, 0) + 1
                total = load.setdefault(node, {"cpu_requests": 0.0, "memory_requests": 0.0, "cpu_limits": 0.0,
                                               "memory_limits": 0.0})
                for key, value in pod_resources(pod).items():
                    total[key] += value
    return counts, load


def get_node(kube: Kube, name: str) -> dict:
    return kube.get(node_path(name))


def node_events(kube: Kube, name: str, limit: int = 50) -> list[dict]:
    """Events about a node (every namespace; the kubelet and the node controller write them to "default"),
    newest first."""
    doc = kube.request("GET", "/api/v1/events", query={
        "fieldSelector": f"involvedObject.kind=Node,involvedObject.name={name}"})
    items = doc.get("items") or []

    def when(e):
        return e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp") \
            or ""

    return sorted(items, key=when, reverse=True)[:limit]


def list_pods_on_node(kube: Kube, node: str, *, label_selector: str = "") -> list[dict]:
    doc = kube.request("GET", "/api/v1/pods", query={
        "fieldSelector": f"spec.nodeName={node}", "labelSelector": label_selector,
    })
    return doc.get("items") or []


def _with_conflict_retry(fn):
    """Run fn(attempt) and retry on 409 Conflict (re-reading inside fn), a bounded number of times."""
    last = None
    for attempt in range(CONFLICT_RETRIES):
        try:
            return fn(attempt)
        except KubeError as exc:
            if exc.status != 409:
                raise
            last = exc
            time.sleep(min(0.05 * (2 ** attempt), 0.5))
    raise KubeError(_("%(error)s (still conflicting after %(count)s attempts)") % {"error": last,
                                                                                  "count": CONFLICT_RETRIES},
                    status=409)


def _labels(node: dict) -> dict:
    return dict((node.get("metadata") or {}).get("labels") or {})


def _taints(node: dict) -> list[dict]:
    return list((node.get("spec") or {}).get("taints") or [])


def _rv(node: dict) -> str:
    return (node.get("metadata") or {}).get("resourceVersion") or ""


def change_labels(kube: Kube, name: str, set_: dict, remove: list) -> tuple[dict, dict]:
    """Set/overwrite and remove labels; returns (before, after) of the touched keys."""
    keys = sorted(set(set_) | set(remove))

    def attempt(_n):
        node = get_node(kube, name)
        before = {k: _labels(node).get(k) for k in keys}
        patch = {"metadata": {"resourceVersion": _rv(node),
                              "labels": {**{k: v for k, v in set_.items()}, **{k: None for k in remove}}}}
        updated = kube.request("PATCH", node_path(name), body=patch, content_type=SMP)
        after = {k: _labels(updated).get(k) for k in keys}
        return {"labels": before}, {"labels": after}

    return _with_conflict_retry(attempt)


def _taint_str(t: dict) -> str:
    value = t.get("value") or ""
    return f"{t.get('key')}{'=' + value if value else ''}:{t.get('effect')}"


def _write_taints(kube: Kube, name: str, modify) -> tuple[dict, dict]:
    def attempt(_n):
        node = get_node(kube, name)
        current = _taints(node)
        new = modify([dict(t) for t in current])
        before = {"taints": [_taint_str(t) for t in current]}
        if new == current:
            return before, before
        patch = {"metadata": {"resourceVersion": _rv(node)}, "spec": {"taints": new}}
        updated = kube.request("PATCH", node_path(name), body=patch, content_type=SMP)
        return before, {"taints": [_taint_str(t) for t in _taints(updated)]}

    return _with_conflict_retry(attempt)


def add_taints(kube: Kube, name: str, taints: list[dict]) -> tuple[dict, dict]:
    """Add or update taints (unique by key+effect: an existing pair gets the new value)."""
    def modify(current):
        for t in taints:
            entry = {"key": t["key"], "effect": t["effect"]}
            if t.get("value"):
                entry["value"] = t["value"]
            if t["effect"] == "NoExecute":
                entry["timeAdded"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            for i, old in enumerate(current):
                if old.get("key") == t["key"] and old.get("effect") == t["effect"]:
                    if (old.get("value") or "") == (t.get("value") or ""):
                        break
                    current[i] = entry
                    break
            else:
                current.append(entry)
        return current

    return _write_taints(kube, name, modify)


def remove_taints(kube: Kube, name: str, taints: list[dict]) -> tuple[dict, dict]:
    """Remove taints by key (and effect, when given). Removing an absent taint is an error, like kubectl."""
    missing = []

    def modify(current):
        missing.clear()
        out = current
        for t in taints:
            keep = [c for c in out if not (c.get("key") == t["key"] and (not t.get("effect")
                                                                          or c.get("effect") == t["effect"]))]
            if len(keep) == len(out):
                missing.append(f"{t['key']}{':' + t['effect'] if t.get('effect') else ''}")
            out = keep
        if missing:
            raise KubeError(_("taint %(taints)s not found on node %(node)s") % {"taints": ", ".join(missing),
                                                                                 "node": name},
                            status=404, reason="NotFound")
        return out

    return _write_taints(kube, name, modify)


def _cordon_state(node: dict) -> dict:
    ann = (node.get("metadata") or {}).get("annotations") or {}
    state = {"unschedulable": bool((node.get("spec") or {}).get("unschedulable"))}
    for key in CORDON_ANNOTATIONS:
        if ann.get(key):
            state[key] = ann[key]
    return state


def cordon(kube: Kube, name: str, *, reason: str = "", user: str = "") -> tuple[dict, dict]:
    def attempt(_n):
        node = get_node(kube, name)
        before = _cordon_state(node)
        annotations = {ANN_AT: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), ANN_BY: user or None,
                       ANN_REASON: reason or None}
        patch = {"metadata": {"resourceVersion": _rv(node), "annotations": annotations},
                 "spec": {"unschedulable": True}}
        updated = kube.request("PATCH", node_path(name), body=patch, content_type=SMP)
        return before, _cordon_state(updated)

    return _with_conflict_retry(attempt)


def uncordon(kube: Kube, name: str) -> tuple[dict, dict]:
    def attempt(_n):
        node = get_node(kube, name)
        before = _cordon_state(node)
        patch = {"metadata": {"resourceVersion": _rv(node), "annotations": {k: None for k in CORDON_ANNOTATIONS}},
                 "spec": {"unschedulable": False}}
        updated = kube.request("PATCH", node_path(name), body=patch, content_type=SMP)
        return before, _cordon_state(updated)

    return _with_conflict_retry(attempt)
