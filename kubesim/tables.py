"""Server-side printing (meta.k8s.io/v1 Table), which `kubectl get` asks for."""

import datetime

from .resources import Resource


def wants_table(accept: str | None) -> bool:
    return bool(accept) and "as=Table" in accept


def _age(ts: str | None) -> str:
    if not ts:
        return "<unknown>"
    created = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    secs = int((datetime.datetime.now(datetime.UTC) - created).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{max(secs, 0)}s"


def _node_row(node: dict) -> list:
    conditions = {c.get("type"): c.get("status") for c in (node.get("status") or {}).get("conditions") or []}
    state = {"True": "Ready", "False": "NotReady"}.get(conditions.get("Ready"), "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    roles = sorted(k.split("/", 1)[1] for k in (node["metadata"].get("labels") or {})
                   if k.startswith("node-role.kubernetes.io/"))
    version = ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")
    return [node["metadata"]["name"], state, ",".join(roles) or "<none>", _age(node["metadata"].get(
        "creationTimestamp")), version]


def _pod_row(pod: dict) -> list:
    st = pod.get("status") or {}
    statuses = st.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    total = len((pod.get("spec") or {}).get("containers") or [])
    phase = "Terminating" if pod["metadata"].get("deletionTimestamp") else st.get("phase", "Pending")
    restarts = sum(c.get("restartCount", 0) for c in statuses)
    return [pod["metadata"]["name"], f"{ready}/{total}", phase, restarts, _age(pod["metadata"].get(
        "creationTimestamp"))]


COLUMNS = {
    "nodes": (("Name", "string"), ("Status", "string"), ("Roles", "string"), ("Age", "string"),
              ("Version", "string")),
    "pods": (("Name", "string"), ("Ready", "string"), ("Status", "string"), ("Restarts", "integer"),
             ("Age", "string")),
}
ROWS = {"nodes": _node_row, "pods": _pod_row}


def as_table(res: Resource, listing: dict) -> dict:
    columns = COLUMNS.get(res.plural, (("Name", "string"), ("Age", "string")))
    row = ROWS.get(res.plural, lambda o: [o["metadata"]["name"], _age(o["metadata"].get("creationTimestamp"))])
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": listing.get("metadata", {}),
        "columnDefinitions": [{"name": n, "type": t, "format": "name" if n == "Name" else "", "description": "",
                               "priority": 0} for n, t in columns],
        "rows": [{"cells": row(obj), "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                                "metadata": obj["metadata"]}} for obj in listing.get("items", [])],
    }
