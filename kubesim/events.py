"""Events about nodes, as the kubelet and the node controller record them (core/v1 Event in "default")."""

import datetime
import uuid

from .resources import EVENTS

KUBELET, NODE_CONTROLLER = "kubelet", "node-controller"


def _stamp(when: datetime.datetime | None = None) -> str:
    return (when or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_event(node: str, reason: str, message: str, component: str = KUBELET, etype: str = "Normal",
               when: str | None = None, uid: str | None = None) -> dict:
    stamp = when or _stamp()
    return {
        "metadata": {"name": f"{node}.{(uid or uuid.uuid4().hex)[:16]}", "namespace": "default",
                     "creationTimestamp": stamp},
        # the kubelet names the node's uid as the node's name in its events
        "involvedObject": {"kind": "Node", "name": node, "uid": node, "apiVersion": "v1"},
        "reason": reason, "message": message,
        "source": {"component": component, **({"host": node} if component == KUBELET else {})},
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1, "type": etype,
        "eventTime": None, "reportingComponent": "", "reportingInstance": "",
    }


def record(store, event: dict) -> None:
    store.create(EVENTS, event)


def for_change(name: str, old: dict | None, new: dict) -> list[dict]:
    """The events a node change makes on a real cluster: schedulability (kubelet) and readiness (node
    controller)."""
    out = []
    if old is not None:
        was = bool((old.get("spec") or {}).get("unschedulable"))
        now = bool((new.get("spec") or {}).get("unschedulable"))
        if was != now:
            status = "NodeNotSchedulable" if now else "NodeSchedulable"
            out.append(node_event(name, status, f"Node {name} status is now: {status}"))
        before, after = _ready(old), _ready(new)
        if before != after:
            if after == "True":
                out.append(node_event(name, "NodeReady", f"Node {name} status is now: NodeReady"))
            else:
                out.append(node_event(name, "NodeNotReady", f"Node {name} status is now: NodeNotReady",
                                      NODE_CONTROLLER))
    return out


def _ready(node: dict) -> str:
    return next((c.get("status") for c in (node.get("status") or {}).get("conditions") or []
                 if c.get("type") == "Ready"), "")
