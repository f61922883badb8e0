"""Drain with kubectl's semantics, and the dry-run drain plan.

Pods are classified like `kubectl drain`: mirror pods and finished pods are skipped, DaemonSet pods are
skipped with ignore_daemonsets (refused without), pods without a controller need force, pods with emptyDir
volumes need delete_emptydir_data. Evictions go through the Eviction API (version by discovery), 429 is
retried after Retry-After (or 5 s) until the timeout, and each pod is waited for until it is gone.
"""

import time
from datetime import UTC, datetime

from django.utils.translation import gettext as _

from . import nodes as node_ops
from .client import Kube, q
from .errors import KubeError

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
DEFAULT_RETRY_AFTER = 5.0
POLL_MIN, POLL_MAX = 0.1, 1.0


def pod_ref(pod: dict) -> str:
    md = pod.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}"


def controller_of(pod: dict) -> dict | None:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value.replace(".000000", "").rstrip("Z")[:19], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=UTC)
    except ValueError:
        return None


def classify(pod: dict, params: dict, now: datetime | None = None) -> tuple[str, str]:
    """("evict" | "skip" | "refuse", why) for one pod, following kubectl drain's filters."""
    md = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if MIRROR_ANNOTATION in (md.get("annotations") or {}):
        return "skip", _("mirror (static) pod")
    if status.get("phase") in ("Succeeded", "Failed"):
        return "skip", _("finished (%(phase)s)") % {"phase": status.get("phase")}
    skip_wait = params.get("skip_wait_for_delete_timeout") or 0
    deleted_at = _parse_time(md.get("deletionTimestamp"))
    if skip_wait > 0 and deleted_at is not None:
        now = now or datetime.now(UTC)
        if (now - deleted_at).total_seconds() > skip_wait:
            return "skip", _("terminating for more than %(seconds)ss") % {"seconds": skip_wait}
    ctrl = controller_of(pod)
    if ctrl and ctrl.get("kind") == "DaemonSet":
        if params.get("ignore_daemonsets"):
            return "skip", _("DaemonSet-managed")
        return "refuse", _("DaemonSet-managed") + " (use ignore_daemonsets)"
    if ctrl is None and not params.get("force"):
        return "refuse", _("not managed by a controller") + " (use force)"
    volumes = (pod.get("spec") or {}).get("volumes") or []
    if any("emptyDir" in (v or {}) for v in volumes) and not params.get("delete_emptydir_data"):
        return "refuse", _("uses emptyDir local data") + " (use delete_emptydir_data)"
    return "evict", _("unmanaged, forced") if ctrl is None else ""


def _entry(pod: dict, action: str, why: str = "") -> dict:
    md = pod.get("metadata") or {}
    ctrl = controller_of(pod)
    return {"namespace": md.get("namespace", ""), "name": md.get("name", ""),
            "owner": f"{ctrl.get('kind')}/{ctrl.get('name')}" if ctrl else "",
            "action": action, "reason": why}


# ---- PodDisruptionBudgets -------------------------------------------------------------------------------

def _matches(selector: dict | None, labels: dict) -> bool:
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def list_pdbs(kube: Kube) -> list[dict]:
    version = kube.policy_version()
    return kube.get(f"/apis/{version}/poddisruptionbudgets").get("items") or []


def pdbs_for(pod: dict, pdbs: list[dict]) -> list[dict]:
    md = pod.get("metadata") or {}
    labels = md.get("labels") or {}
    return [p for p in pdbs if (p.get("metadata") or {}).get("namespace") == md.get("namespace")
            and _matches((p.get("spec") or {}).get("selector"), labels)]


def plan_node(kube: Kube, node: str, params: dict, pdbs: list[dict], budget: dict) -> dict:
    """What a drain of `node` would do now, changing nothing. `budget` tracks disruptions across nodes."""
    pods = node_ops.list_pods_on_node(kube, node, label_selector=params.get("pod_selector", ""))
    return plan_pods(node, pods, params, pdbs, budget)


def plan_pods(node: str, pods: list[dict], params: dict, pdbs: list[dict], budget: dict) -> dict:
    """The drain plan of `node` from its pods, already read (no API call).

    `pods` are the pods on the node (already filtered by params["pod_selector"]), `pdbs` the cluster's
    PodDisruptionBudgets, and `budget` maps "namespace/name" of a PDB to the disruptions still allowed: it is
    filled and spent here, so planning several nodes in drain order with one `budget` spends each PDB once.
    """
    evict, skip, blocked = [], [], []
    for pod in pods:
        action, why = classify(pod, params)
        if action == "skip":
            skip.append(_entry(pod, "skip", why))
            continue
        if action == "refuse":
            blocked.append(_entry(pod, "blocked", why))
            continue
        if not params.get("disable_eviction") and (pod.get("status") or {}).get("phase") not in ("Pending",):
            matching = pdbs_for(pod, pdbs)
            if len(matching) > 1:
                names = ", ".join(sorted((p["metadata"]["name"]) for p in matching))
                blocked.append(_entry(pod, "blocked", _("more than one PodDisruptionBudget (%(names)s)") % {
                    "names": names}))
                continue
            if matching:
                pdb = matching[0]
                key = f"{pdb['metadata'].get('namespace')}/{pdb['metadata']['name']}"
                allowed = budget.setdefault(key, int((pdb.get("status") or {}).get("disruptionsAllowed") or 0))
                if allowed <= 0:
                    blocked.append(_entry(pod, "blocked", _("PodDisruptionBudget %(name)s allows no disruption now") % {
                        "name": key}))
                    continue
                budget[key] = allowed - 1
        evict.append(_entry(pod, "evict", why))
    return {"node": node, "evict": evict, "skip": skip, "blocked": blocked, "ok": not blocked}


# ---- Drain ----------------------------------------------------------------------------------------------

class _Stopped(Exception):
    pass


def _sleep(seconds: float, deadline: float, should_stop):
    end = min(time.monotonic() + seconds, deadline)
    while True:
        if should_stop and should_stop():
            raise _Stopped()
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.2))


def _evict(kube: Kube, pod: dict, params: dict, version: str):
    md = pod["metadata"]
    grace = params.get("grace_period", -1)
    if params.get("disable_eviction"):
        query = {"gracePeriodSeconds": grace} if grace >= 0 else {}
        kube.request("DELETE", f"/api/v1/namespaces/{q(md['namespace'])}/pods/{q(md['name'])}", query=query,
                     body={"kind": "DeleteOptions", "apiVersion": "v1",
                           "preconditions": {"uid": md.get("uid")}})
        return
    body = {"apiVersion": version, "kind": "Eviction",
            "metadata": {"name": md["name"], "namespace": md["namespace"]},
            "deleteOptions": {"preconditions": {"uid": md.get("uid")}}}
    if grace >= 0:
        body["deleteOptions"]["gracePeriodSeconds"] = grace
    kube.request("POST", f"/api/v1/namespaces/{q(md['namespace'])}/pods/{q(md['name'])}/eviction", body=body)


def drain(kube: Kube, node: str, params: dict, *, user: str = "", should_stop=None) -> tuple[bool, str, dict]:
    """Cordon `node` and evict its pods. Returns (ok, error line, detail with the per-pod report).

    On timeout, stop or refusal the node stays cordoned and the pending/blocked pods are named.
    """
    deadline = time.monotonic() + params.get("timeout", 300)
    before, after = node_ops.cordon(kube, node, reason=params.get("reason", ""), user=user)
    detail = {"before": before, "after": after, "pods": []}
    pods = node_ops.list_pods_on_node(kube, node, label_selector=params.get("pod_selector", ""))
    report: dict[str, dict] = {}
    todo = []
    for pod in pods:
        action, why = classify(pod, params)
        entry = _entry(pod, {"skip": "skipped", "refuse": "blocked", "evict": "pending"}[action], why)
        report[pod_ref(pod)] = entry
        if action == "evict":
            todo.append(pod)
    detail["pods"] = list(report.values())
    refused = [ref for ref, e in report.items() if e["action"] == "blocked"]
    if refused:
        reasons = "; ".join(f"{ref}: {report[ref]['reason']}" for ref in refused[:10])
        more = " " + _("(and %(count)s more)") % {"count": len(refused) - 10} if len(refused) > 10 else ""
        return False, _("cannot drain %(node)s: %(count)s pod(s) refused — %(reasons)s; node left cordoned") % {
            "node": node, "count": len(refused), "reasons": reasons + more}, detail

    version = "" if params.get("disable_eviction") else kube.eviction_version()
    to_evict = {pod_ref(p): p for p in todo}
    next_try: dict[str, float] = {}
    waiting: dict[str, str] = {}  # ref -> uid
    try:
        while to_evict or waiting:
            if should_stop and should_stop():
                raise _Stopped()
            now = time.monotonic()
            if now >= deadline:
                break
            for ref, pod in list(to_evict.items()):
                if next_try.get(ref, 0) > now:
                    continue
                entry = report[ref]
                entry["attempts"] = entry.get("attempts", 0) + 1
                try:
                    _evict(kube, pod, params, version)
                except KubeError as exc:
                    if exc.status == 404:
                        entry.update(action="gone", reason=_("already gone"))
                        del to_evict[ref]
                    elif exc.status == 429:
                        entry.update(reason=exc.message)
                        next_try[ref] = time.monotonic() + (exc.retry_after or DEFAULT_RETRY_AFTER)
                    elif exc.status == 409 and "uid" in exc.message.lower():
                        entry.update(action="gone", reason=_("replaced by a new pod"))
                        del to_evict[ref]
                    else:
                        entry.update(action="failed", reason=exc.message)
                        del to_evict[ref]
                        raise
                    continue
                entry.update(action="evicting" if not params.get("disable_eviction") else "deleting", reason="")
                waiting[ref] = (pod.get("metadata") or {}).get("uid", "")
                del to_evict[ref]
            if waiting:
                current = {pod_ref(p): (p.get("metadata") or {}) for p in node_ops.list_pods_on_node(kube, node)}
                for ref, uid in list(waiting.items()):
                    md = current.get(ref)
                    if md is None or md.get("uid") != uid:
                        report[ref].update(action="evicted" if not params.get("disable_eviction") else "deleted")
                        del waiting[ref]
                    elif params.get("skip_wait_for_delete_timeout"):
                        deleted = _parse_time(md.get("deletionTimestamp"))
                        if deleted and (datetime.now(UTC) - deleted).total_seconds() > \
                                params["skip_wait_for_delete_timeout"]:
                            report[ref].update(action="skipped",
                                               reason=_("still terminating past skip_wait_for_delete_timeout"))
                            del waiting[ref]
            if not to_evict and not waiting:
                break
            pause = POLL_MIN if waiting else POLL_MAX
            retry_at = [t for r, t in next_try.items() if r in to_evict]
            if retry_at:
                pause = min(pause, max(0.05, min(retry_at) - time.monotonic()))
            _sleep(pause, deadline, should_stop)
    except _Stopped:
        names = sorted(set(to_evict) | set(waiting))
        for ref in names:
            report[ref]["action"] = "pending"
        detail["pods"] = list(report.values())
        return False, _("drain of %(node)s stopped with %(count)s pod(s) pending: %(pods)s; node left cordoned") % {
            "node": node, "count": len(names), "pods": _names(names)}, detail
    except KubeError as exc:
        detail["pods"] = list(report.values())
        return False, _("drain of %(node)s failed: %(error)s; node left cordoned") % {"node": node, "error": exc}, \
            detail
    detail["pods"] = list(report.values())
    if to_evict or waiting:
        blocked = sorted(to_evict)
        pending = sorted(waiting)
        for ref in blocked:
            report[ref]["action"] = "blocked"
        for ref in pending:
            report[ref]["action"] = "pending"
        parts = []
        if blocked:
            parts.append(_("%(count)s blocked (%(pods)s)") % {"count": len(blocked), "pods": _names(blocked)})
        if pending:
            parts.append(_("%(count)s still terminating (%(pods)s)") % {"count": len(pending), "pods": _names(pending)})
        return False, _("drain of %(node)s timed out after %(seconds)ss: %(why)s; node left cordoned") % {
            "node": node, "seconds": params.get("timeout"), "why": "; ".join(parts)}, detail
    return True, "", detail


def _names(refs: list[str], limit: int = 10) -> str:
    shown = ", ".join(refs[:limit])
    return shown + (" " + _("and %(count)s more") % {"count": len(refs) - limit} if len(refs) > limit else "")
