"""The resource metrics API (metrics.k8s.io/v1beta1) as metrics-server serves it: node and pod usage.

Usage is made up from what the pods on a node request, scaled by a per-node load that drifts slowly with time, plus
the node's own system share; nodes that are not Ready have no metrics (metrics-server cannot scrape them), so they
are missing from the list and 404 on their own, as on a real cluster. Only reads: get and list.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import re
import time

from .errors import ApiError, not_found

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
WINDOW = "20.036s"

_SUFFIX = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
           "Ki": 2.0 ** 10, "Mi": 2.0 ** 20, "Gi": 2.0 ** 30, "Ti": 2.0 ** 40}
_QTY = re.compile(r"^([0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|[numkMGT]?)$")


def _qty(text) -> float:
    m = _QTY.match(str(text or "0"))
    return float(m.group(1)) * _SUFFIX[m.group(2)] if m else 0.0


def group_doc() -> dict:
    versions = [{"groupVersion": GROUP_VERSION, "version": VERSION}]
    return {"name": GROUP, "versions": versions, "preferredVersion": versions[0]}


def resource_list() -> dict:
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION, "resources": [
        {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]},
    ]}


def _load(name: str, now: float) -> float:
    """A node's load factor, between about 0.35 and 1.9, drifting over minutes."""
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")
    base = 0.5 + (seed % 1000) / 1000.0
    return max(0.2, base + 0.35 * math.sin(now / 90.0 + seed % 628 / 100.0))


def _ready(node: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def _running(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")


def _requests(container: dict) -> tuple[float, float]:
    req = (container.get("resources") or {}).get("requests") or {}
    return _qty(req.get("cpu") or "50m"), _qty(req.get("memory") or "64Mi")


def _stamp(now: float) -> str:
    return datetime.datetime.fromtimestamp(now - 7, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cpu(cores: float) -> str:
    return f"{max(0, int(cores * 1e9))}n"


def _memory(size: float) -> str:
    return f"{max(0, int(size / 1024))}Ki"


def _container_usage(pod: dict, factor: float) -> list[dict]:
    out = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        cpu, mem = _requests(c)
        out.append({"name": c.get("name", "app"), "usage": {"cpu": _cpu(cpu * factor * 0.8),
                                                            "memory": _memory(mem * (0.6 + factor * 0.3))}})
    return out


def _node_item(store, node: dict, now: float) -> dict:
    name = node["metadata"]["name"]
    factor = _load(name, now)
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    cpu = 0.1 + _qty(allocatable.get("cpu")) * 0.18 * factor  # the node's own and unaccounted work
    memory = 600 * 2.0 ** 20 + _qty(allocatable.get("memory")) * 0.2 * factor
    for key in store.pods_by_node.get(name, ()):
        pod = store.objects["pods"].get(key)
        if pod is None or not _running(pod):
            continue
        for c in _container_usage(pod, factor):
            cpu += _qty(c["usage"]["cpu"])
            memory += _qty(c["usage"]["memory"])
    cpu = min(cpu, _qty(allocatable.get("cpu")) or cpu)
    memory = min(memory, _qty(allocatable.get("memory")) or memory)
    meta = {"name": name, "creationTimestamp": _stamp(now + 7)}
    if node["metadata"].get("labels"):
        meta["labels"] = node["metadata"]["labels"]
    return {"metadata": meta, "timestamp": _stamp(now), "window": WINDOW,
            "usage": {"cpu": _cpu(cpu), "memory": _memory(memory)}}


def _pod_item(store, pod: dict, now: float) -> dict:
    node = store.objects["nodes"].get((pod.get("spec") or {}).get("nodeName"))
    factor = _load(node["metadata"]["name"], now) if node else 1.0
    meta = {"name": pod["metadata"]["name"], "namespace": pod["metadata"]["namespace"],
            "creationTimestamp": _stamp(now + 7)}
    if pod["metadata"].get("labels"):
        meta["labels"] = pod["metadata"]["labels"]
    return {"metadata": meta, "timestamp": _stamp(now), "window": WINDOW,
            "containers": _container_usage(pod, factor)}


def _scraped_pod(store, pod) -> bool:
    node = store.objects["nodes"].get((pod.get("spec") or {}).get("nodeName"))
    return node is not None and _ready(node) and _running(pod)


def handle(store, rest: list[str], query: dict) -> dict:
    """GET /apis/metrics.k8s.io/v1beta1/<rest>: nodes, nodes/NAME, pods, namespaces/NS/pods[/NAME]."""
    now = time.time()
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest or rest[0] not in ("nodes", "pods") or len(rest) > 2 or (rest[0] == "nodes" and namespace):
        raise ApiError(404, "the server could not find the requested resource", reason="NotFound")
    kind, name = rest[0], rest[1] if len(rest) > 1 else None
    if name and kind == "pods" and namespace is None:
        raise ApiError(404, "the server could not find the requested resource", reason="NotFound")
    with store.lock:
        if kind == "nodes":
            nodes = store.objects["nodes"]
            if name:
                node = nodes.get(name)
                if node is None or not _ready(node):
                    raise not_found("nodemetrics", name, GROUP)
                return {"kind": "NodeMetrics", "apiVersion": GROUP_VERSION, **_node_item(store, node, now)}
            items = [_node_item(store, n, now) for _, n in sorted(nodes.items()) if _ready(n)]
            return {"kind": "NodeMetricsList", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}
        pods = store.objects["pods"]
        if name:
            pod = pods.get((namespace, name))
            if pod is None or not _scraped_pod(store, pod):
                raise not_found("podmetrics", name, GROUP)
            return {"kind": "PodMetrics", "apiVersion": GROUP_VERSION, **_pod_item(store, pod, now)}
        items = [_pod_item(store, p, now) for key, p in sorted(pods.items())
                 if (namespace is None or key[0] == namespace) and _scraped_pod(store, p)]
        return {"kind": "PodMetricsList", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}
