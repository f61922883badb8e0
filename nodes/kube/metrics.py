"""CPU and memory usage from the resource metrics API (metrics.k8s.io, served by metrics-server) when the cluster
has it."""

from __future__ import annotations

from . import quantity
from .client import Kube, q
from .errors import KubeError

GROUP = "metrics.k8s.io"


def metrics_version(kube: Kube) -> str | None:
    """The served group/version of the metrics API (preferred version), or None when the cluster has none."""
    try:
        groups = kube.discover("/apis").get("groups") or []
    except KubeError:
        return None
    for group in groups:
        if group.get("name") == GROUP:
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            versions = [v.get("groupVersion") for v in group.get("versions") or []]
            return preferred or (versions[0] if versions else None)
    return None


def _usage(item: dict) -> dict[str, float | None]:
    usage = item.get("usage") or {}
    return {"cpu": quantity.parse(usage.get("cpu")), "memory": quantity.parse(usage.get("memory")),
            "timestamp": item.get("timestamp") or "", "window": item.get("window") or ""}


def node_usage(kube: Kube) -> dict[str, dict] | None:
    """Usage of every node that metrics-server could scrape, by node name ({cpu: cores, memory: bytes,
    timestamp, window}); None when the cluster does not serve the metrics API. Nodes it could not scrape (NotReady,
    just joined) are absent, as in `kubectl top nodes`. Raises KubeError when the API is there but fails."""
    version = metrics_version(kube)
    if version is None:
        return None
    doc = kube.request("GET", f"/apis/{version}/nodes", timeout=(5, 30))
    return {(i.get("metadata") or {}).get("name", ""): _usage(i) for i in doc.get("items") or []}


def pod_usage_on(kube: Kube, pods: list[tuple[str, str]]) -> dict[tuple[str, str], dict] | None:
    """Usage of the given (namespace, name) pods, read namespace by namespace; None without the metrics API."""
    version = metrics_version(kube)
    if version is None:
        return None
    out: dict[tuple[str, str], dict] = {}
    wanted = set(pods)
    for namespace in sorted({ns for ns, _ in pods}):
        doc = kube.request("GET", f"/apis/{version}/namespaces/{q(namespace)}/pods", timeout=(5, 30))
        for item in doc.get("items") or []:
            md = item.get("metadata") or {}
            key = (md.get("namespace", namespace), md.get("name", ""))
            if key not in wanted:
                continue
            containers = item.get("containers") or []
            out[key] = {"cpu": sum(quantity.parse((c.get("usage") or {}).get("cpu")) or 0.0 for c in containers),
                        "memory": sum(quantity.parse((c.get("usage") or {}).get("memory")) or 0.0
                                      for c in containers)}
    return out
