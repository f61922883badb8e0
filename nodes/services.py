"""Writes: importing and checking clusters, and node actions with an audit record for every change."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kubenode import access

from . import crypto
from .cluster_secrets import exec_command, redact_url
from .kube import KubeError
from .kube import client as kube_client
from .kube import drain as drain_ops
from .kube import nodes as node_ops
from .models import AuditEntry, Cluster
from .validation import ACTIONS
from .validation import validate_action as _validate_action

log = logging.getLogger(__name__)

__all__ = ["import_cluster", "add_cluster", "rename_cluster", "remove_cluster", "import_in_cluster",
           "check_cluster", "CheckResult", "validate_action", "NodeOutcome", "perform_node_action",
           "run_node_action", "save_audit_entries", "drain_plan", "drain_summary", "action_preview", "node_changes",
           "parse_kubeconfig"]

MAX_KUBECONFIG_BYTES = 1024 * 1024


def validate_action(action: str, params: dict) -> dict:
    """Normalised parameters; raises ValidationError with a clear message. No API call."""
    return _validate_action(action, params)


# ---- Clusters -------------------------------------------------------------------------------------------

def parse_kubeconfig(text: str) -> dict:
    """The kubeconfig as a dict, or a ValidationError that never quotes its content."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(_("the kubeconfig is empty"))
    if len(text.encode()) > MAX_KUBECONFIG_BYTES:
        raise ValidationError(_("the kubeconfig is larger than 1 MiB"))
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            raise ValidationError(_("the kubeconfig is not valid YAML (line %(line)s)") % {"line": mark.line + 1}) \
                from None
        raise ValidationError(_("the kubeconfig is not valid YAML")) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("contexts"), list) or not doc.get("contexts"):
        raise ValidationError(_("the kubeconfig has no contexts"))
    if not isinstance(doc.get("clusters"), list) or not doc.get("clusters"):
        raise ValidationError(_("the kubeconfig has no clusters"))
    return doc


def _named(doc: dict, section: str) -> dict:
    return {e.get("name"): (e.get(section[:-1]) or {}) for e in doc.get(section) or [] if isinstance(e, dict)}


def kubeconfig_contexts(doc: dict) -> list[str]:
    return [c.get("name") for c in doc.get("contexts") or [] if isinstance(c, dict) and c.get("name")]


def resolve_context(doc: dict, context: str | None) -> tuple[str, str]:
    """(context name, server URL) after checking the context, its cluster and its user exist."""
    contexts = _named(doc, "contexts")
    name = context or doc.get("current-context") or ""
    if not name:
        if len(contexts) == 1:
            name = next(iter(contexts))
        else:
            raise ValidationError(_("the kubeconfig has no current-context; choose one of: %(contexts)s") % {
                "contexts": ", ".join(sorted(map(str, contexts)))})
    if name not in contexts:
        raise ValidationError(_("context %(context)s not found in the kubeconfig; it has: %(contexts)s") % {
            "context": repr(name), "contexts": ", ".join(sorted(map(str, contexts)))})
    ctx = contexts[name]
    clusters = _named(doc, "clusters")
    if ctx.get("cluster") not in clusters:
        raise ValidationError(_("context %(context)s refers to cluster %(cluster)s, which is not in the kubeconfig")
                              % {"context": repr(name), "cluster": repr(ctx.get("cluster"))})
    server = clusters[ctx["cluster"]].get("server") or ""
    if not isinstance(server, str) or not server.startswith(("http://", "https://")):
        raise ValidationError(_("cluster %(cluster)s of context %(context)s has no valid server URL") % {
            "cluster": repr(ctx.get("cluster")), "context": repr(name)})
    if ctx.get("user") and ctx.get("user") not in _named(doc, "users"):
        raise ValidationError(_("context %(context)s refers to user %(user)s, which is not in the kubeconfig") % {
            "context": repr(name), "user": repr(ctx.get("user"))})
    return name, redact_url(server)  # stored and shown: never with the credentials a URL may carry


def _clean_name(name: str) -> str:
    slug = slugify(name or "")[:63].strip("-")
    if not slug:
        raise ValidationError(_("the cluster name must contain letters or digits"))
    return slug


def import_cluster(name: str, kubeconfig_text: str, context: str | None = None, simulated: bool = False) -> Cluster:
    """Store (or replace) a cluster from a kubeconfig context; the kubeconfig is encrypted at rest.

    The kubeconfig is checked (YAML, context, cluster, user, server URL, loadable by the client); nothing is
    stored when it is not usable. Errors never quote the kubeconfig.
    """
    name = _clean_name(name)
    doc = parse_kubeconfig(kubeconfig_text)
    context, server = resolve_context(doc, context)
    try:
        kube_client.from_kubeconfig(kubeconfig_text, context)
    except KubeError as exc:
        raise ValidationError(str(exc)) from None
    with transaction.atomic():
        cluster, created = Cluster.objects.select_for_update().get_or_create(name=name)
        cluster.source = Cluster.Source.KUBECONFIG
        cluster.context = context
        cluster.server = server
        cluster.simulated = simulated
        cluster.kubeconfig_encrypted = crypto.encrypt(kubeconfig_text)
        cluster.save()
    log.info("cluster %s %s (context %s, server %s)", name, "imported" if created else "updated", context, server)
    command = exec_command(doc, context)
    if command:
        log.warning("cluster %s gets its credentials from the exec plugin %r (allowed by "
                    "clusters.allowed_exec_commands); it runs in the web and worker processes", name, command)
    return cluster


def add_cluster(user, name: str, kubeconfig_text: str, context: str | None = None) -> Cluster:
    """An admin adds a cluster from the pages: as import_cluster, but a name already in use is refused."""
    access.require_manage_clusters(user)
    slug = _clean_name(name)
    if Cluster.objects.filter(name=slug).exists():
        raise ValidationError(_("a cluster named %(name)s exists already; choose another name") % {"name": slug})
    cluster = import_cluster(slug, kubeconfig_text, context)
    log.info("cluster %s added by %s", cluster.name, _username(user))
    return cluster


def rename_cluster(user, cluster: Cluster, new_name: str) -> Cluster:
    """Rename a cluster. Audit records and tasks keep the name the cluster had when they were written."""
    access.require_manage_clusters(user)
    slug = _clean_name(new_name)
    if slug == cluster.name:
        return cluster
    with transaction.atomic():
        if Cluster.objects.filter(name=slug).exclude(pk=cluster.pk).exists():
            raise ValidationError(_("a cluster named %(name)s exists already") % {"name": slug})
        old = cluster.name
        cluster.name = slug
        cluster.save(update_fields=["name", "updated_at"])
    log.info("cluster %s renamed to %s by %s", old, slug, _username(user))
    return cluster


def remove_cluster(user, cluster: Cluster, *, active_batches: int = 0) -> None:
    """Forget a cluster and its stored kubeconfig; refused while `active_batches` of it are pending or running
    (the caller counts them in the task engine). Its audit records and finished tasks stay (they name it)."""
    access.require_manage_clusters(user)
    if active_batches:
        raise ValidationError(ngettext(
            "%(count)s task of cluster %(cluster)s is pending or running: cancel or wait for it first",
            "%(count)s tasks of cluster %(cluster)s are pending or running: cancel or wait for them first",
            active_batches) % {"count": active_batches, "cluster": cluster.name})
    name = cluster.name
    cluster.delete()
    log.info("cluster %s removed by %s", name, _username(user))


def import_in_cluster(name: str) -> Cluster:
    """Register the service account of the pod kubenode runs in."""
    import os

    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ValidationError("not running inside a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set)")
    name = _clean_name(name)
    server = f"https://{'[' + host + ']' if ':' in host else host}:{port}"
    with transaction.atomic():
        cluster, _created = Cluster.objects.select_for_update().get_or_create(name=name)
        cluster.source = Cluster.Source.IN_CLUSTER
        cluster.context = ""
        cluster.server = server
        cluster.kubeconfig_encrypted = ""
        cluster.simulated = False
        cluster.save()
    return cluster


@dataclass
class CheckResult:
    cluster: str
    ok: bool
    reachable: bool = False
    authenticated: bool | None = None
    server_version: str = ""
    can_patch_nodes: str = "unknown"  # yes / no / unknown
    can_evict_pods: str = "unknown"
    can_list_nodes: str = "unknown"
    node_count: int | None = None
    error: str = ""

    @property
    def message(self) -> str:
        if not self.reachable:
            return self.error
        if self.authenticated is False:
            return self.error
        answer = {"yes": _("yes"), "no": _("no"), "unknown": _("unknown")}
        text = _("reachable, Kubernetes %(version)s; may list nodes: %(list)s, patch nodes: %(patch)s, create "
                 "pods/eviction: %(evict)s") % {
            "version": self.server_version or "?", "list": answer.get(self.can_list_nodes, self.can_list_nodes),
            "patch": answer.get(self.can_patch_nodes, self.can_patch_nodes),
            "evict": answer.get(self.can_evict_pods, self.can_evict_pods)}
        if self.node_count is not None:
            text += _("; %(count)s nodes") % {"count": self.node_count}
        if self.error:
            text += f"; {self.error}"
        return text

    def as_dict(self) -> dict:
        return {"cluster": self.cluster, "ok": self.ok, "reachable": self.reachable,
                "authenticated": self.authenticated, "server_version": self.server_version,
                "can_list_nodes": self.can_list_nodes, "can_patch_nodes": self.can_patch_nodes,
                "can_evict_pods": self.can_evict_pods, "node_count": self.node_count, "error": self.error,
                "message": self.message}


def _access(kube, verb: str, resource: str, subresource: str = "", group: str = "") -> str:
    attrs = {"verb": verb, "resource": resource, "group": group}
    if subresource:
        attrs["subresource"] = subresource
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs}}
    try:
        doc = kube.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=body)
    except KubeError as exc:
        if exc.status in (404, 405):
            return "unknown"
        raise
    return "yes" if (doc.get("status") or {}).get("allowed") else "no"


def check_cluster(cluster: Cluster) -> CheckResult:
    """Reachability, version, authentication and permissions; recorded in the cluster's last_check_*."""
    result = CheckResult(cluster=cluster.name, ok=False)
    try:
        kube = kube_client.for_cluster(cluster)
        version = kube.get("/version")
        result.reachable = True
        result.server_version = version.get("gitVersion", "")
        try:
            doc = kube.request("GET", "/api/v1/nodes", query={"limit": 1})
            result.authenticated = True
            result.can_list_nodes = "yes"
            remaining = (doc.get("metadata") or {}).get("remainingItemCount")
            result.node_count = len(doc.get("items") or []) + int(remaining or 0) \
                if remaining is not None or not (doc.get("metadata") or {}).get("continue") else None
        except KubeError as exc:
            if exc.status == 401:
                result.authenticated = False
                raise
            if exc.status == 403:
                result.authenticated = True
                result.can_list_nodes = "no"
            else:
                raise
        result.can_patch_nodes = _access(kube, "patch", "nodes")
        result.can_evict_pods = _access(kube, "create", "pods", "eviction")
        if result.can_list_nodes == "unknown":
            result.can_list_nodes = _access(kube, "list", "nodes")
        result.ok = result.can_list_nodes == "yes"
        if not result.ok:
            result.error = _("the credentials may not list nodes")
    except KubeError as exc:
        if exc.status:
            result.reachable = True
        result.error = str(exc)
    Cluster.objects.filter(pk=cluster.pk).update(last_check_at=timezone.now(), last_check_ok=result.ok,
                                                 last_check_message=result.message[:2000])
    cluster.refresh_from_db(fields=["last_check_at", "last_check_ok", "last_check_message"])
    return result


# ---- Node actions ---------------------------------------------------------------------------------------

@dataclass
class NodeOutcome:
    node: str
    ok: bool
    error: str = ""
    detail: dict = field(default_factory=dict)


def _username(user) -> str:
    if user is None:
        return ""
    if isinstance(user, str):
        return user
    return getattr(user, "get_username", lambda: str(user))()


def _audit_entry(cluster, node, action, params, user, task_id, outcome: NodeOutcome, via_token: str = ""
                 ) -> AuditEntry:
    """The audit record of one node operation (not saved)."""
    user_obj = user if getattr(user, "pk", None) is not None else None
    detail = outcome.detail or {}
    after = dict(detail.get("after") or {})
    if action == "drain" and "pods" in detail:
        after["pods"] = detail["pods"]
    return AuditEntry(
        user=user_obj, username=_username(user)[:150], cluster=cluster, cluster_name=cluster.name, node=node,
        action=action, reason=(params or {}).get("reason", ""), before=detail.get("before") or {}, after=after,
        outcome=AuditEntry.Outcome.SUCCEEDED if outcome.ok else AuditEntry.Outcome.FAILED,
        error=outcome.error, task_id=task_id, via_token=(via_token or "")[:100],
    )


def save_audit_entries(entries: list[AuditEntry]) -> None:
    """Store audit records (fresh rows each time: a retried transaction inserts them again)."""
    for entry in entries:
        entry.pk = None
        entry._state.adding = True
    AuditEntry.objects.bulk_create(entries)


def _perform(kube, node: str, action: str, params: dict, username: str, should_stop) -> NodeOutcome:
    if action in ("label", "unlabel"):
        before, after = ({}, {})
        if params.get("set") or params.get("remove"):
            before, after = node_ops.change_labels(kube, node, params.get("set") or {} if action == "label" else {},
                                                   params["remove"])
        if params.get("taints"):  # a whole template in one batch: its taints go on (label) or come off (unlabel)
            change = node_ops.add_taints if action == "label" else node_ops.remove_taints
            taints_before, taints_after = change(kube, node, params["taints"])
            before, after = {**before, **taints_before}, {**after, **taints_after}
    elif action == "taint":
        before, after = node_ops.add_taints(kube, node, params["taints"])
    elif action == "untaint":
        before, after = node_ops.remove_taints(kube, node, params["taints"])
    elif action == "cordon":
        before, after = node_ops.cordon(kube, node, reason=params.get("reason", ""), user=username)
    elif action == "uncordon":
        before, after = node_ops.uncordon(kube, node)
    else:
        ok, error, detail = drain_ops.drain(kube, node, params, user=username, should_stop=should_stop)
        return NodeOutcome(node=node, ok=ok, error=error, detail=detail)
    return NodeOutcome(node=node, ok=True, detail={"before": before, "after": after})


def perform_node_action(cluster: Cluster, node: str, action: str, params: dict, *, user, task_id=None,
                        should_stop: Callable[[], bool] | None = None, via_token: str = ""
                        ) -> tuple[NodeOutcome, AuditEntry | None]:
    """Perform one action on one node; returns its outcome and its audit record, not saved (a batch stores the
    record in the transaction that records the result; None for an unknown action). `via_token`: the name of the
    access token the change was asked with. Never raises for API or input errors."""
    username = _username(user)
    try:
        params = validate_action(action, params)
    except ValidationError as exc:
        outcome = NodeOutcome(node=node, ok=False, error="; ".join(exc.messages))
        if action not in ACTIONS:
            return outcome, None
        return outcome, _audit_entry(cluster, node, action, params if isinstance(params, dict) else {}, user,
                                     task_id, outcome, via_token)
    try:
        kube = kube_client.for_cluster(cluster)
        outcome = _perform(kube, node, action, params, username, should_stop)
    except KubeError as exc:
        error = str(exc)
        if exc.status == 404 and (exc.body.get("details") or {}).get("kind") == "nodes":
            error = f"node {node!r} not found in cluster {cluster.name}"
        outcome = NodeOutcome(node=node, ok=False, error=error)
    except Exception as exc:  # never a traceback in an outcome; the log keeps it
        log.exception("unexpected failure of %s on %s/%s", action, cluster.name, node)
        outcome = NodeOutcome(node=node, ok=False, error=f"unexpected error: {type(exc).__name__}")
    return outcome, _audit_entry(cluster, node, action, params, user, task_id, outcome, via_token)


def run_node_action(cluster: Cluster, node: str, action: str, params: dict, *, user, task_id=None,
                    should_stop: Callable[[], bool] | None = None) -> NodeOutcome:
    """Perform one action on one node and write its AuditEntry. Never raises for API or input errors."""
    outcome, entry = perform_node_action(cluster, node, action, params, user=user, task_id=task_id,
                                         should_stop=should_stop)
    try:
        if entry is not None:
            entry.save()
    except Exception:
        log.exception("audit record for %s on %s/%s could not be written", action, cluster.name, node)
    from .selectors import invalidate_nodes

    invalidate_nodes(cluster)  # other processes see the new AuditEntry id (selectors.cached_nodes)
    return outcome


PREVIEW_WORKERS = 8


def drain_plan(cluster: Cluster, nodes: list[str], params: dict) -> list[dict]:
    """Per node: pods that would be evicted, skipped (why) or blocked (why). Changes nothing.

    Each entry: {"node", "ok", "evict": [...], "skip": [...], "blocked": [...], "error"}. The nodes and their pods
    are read in parallel (PREVIEW_WORKERS at once); the plan is then made in order, so that disruption budgets are
    spent node after node as the drain would.
    """
    from concurrent.futures import ThreadPoolExecutor

    params = validate_action("drain", params)
    kube = kube_client.for_cluster(cluster)
    pdbs = [] if params["disable_eviction"] else drain_ops.list_pdbs(kube)

    def read(node):
        try:
            node_ops.get_node(kube, node)
            return node_ops.list_pods_on_node(kube, node, label_selector=params.get("pod_selector", ""))
        except KubeError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, min(PREVIEW_WORKERS, len(nodes)))) as pool:
        pods_of = list(pool.map(read, nodes))
    budget: dict = {}
    plans = []
    for node, pods in zip(nodes, pods_of, strict=True):
        if isinstance(pods, KubeError):
            error = f"node {node!r} not found in cluster {cluster.name}" if pods.status == 404 else str(pods)
            plans.append({"node": node, "ok": False, "evict": [], "skip": [], "blocked": [], "error": error})
            continue
        plan = drain_ops.plan_pods(node, pods, params, pdbs, budget)
        plan["error"] = ""
        plans.append(plan)
    return plans


# The drain option that lets a refused pod go, named as in nodes.kube.drain's reasons ("... (use force)").
DRAIN_OPTION_OF_REASON = {"use ignore_daemonsets": "ignore_daemonsets", "use force": "force",
                          "use delete_emptydir_data": "delete_emptydir_data"}


def drain_summary(plans: list[dict]) -> dict:
    """How many previewed nodes will not drain as things stand, and why.

    {"nodes": n, "ok": n, "blocked": n, "evict": pods, "reasons": [{"reason", "nodes": [...], "pods": n,
    "option": the drain option that lets these pods go, or ""}]}, the most common reason first.
    """
    reasons: dict[str, dict] = {}
    for plan in plans:
        if plan.get("error"):
            entry = reasons.setdefault(plan["error"], {"reason": plan["error"], "nodes": [], "pods": 0, "option": ""})
            entry["nodes"].append(plan["node"])
        for pod in plan["blocked"]:
            why = pod.get("reason") or "blocked"
            option = next((o for hint, o in DRAIN_OPTION_OF_REASON.items() if hint in why), "")
            entry = reasons.setdefault(why, {"reason": why, "nodes": [], "pods": 0, "option": option})
            entry["pods"] += 1
            if plan["node"] not in entry["nodes"]:
                entry["nodes"].append(plan["node"])
    blocked = sum(1 for p in plans if not p["ok"] or p.get("error"))
    return {"nodes": len(plans), "blocked": blocked, "ok": len(plans) - blocked,
            "evict": sum(len(p["evict"]) for p in plans),
            "reasons": sorted(reasons.values(), key=lambda r: (-len(r["nodes"]), r["reason"]))}


# ---- Previews of the other actions, and templates -------------------------------------------------------

def _taint_text(t: dict) -> str:
    return f"{t.get('key')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect') or '*'}"


def _taint_changes(node, action: str, taints: list[dict]) -> tuple[list[tuple], list[str]]:
    changes, warnings = [], []
    if action == "taint":
        for t in taints:
            old = next((c for c in node.taints if c.get("key") == t["key"] and c.get("effect") == t["effect"]), None)
            if old is None or (old.get("value") or "") != (t.get("value") or ""):
                changes.append((_("taint %(taint)s") % {"taint": f"{t['key']}:{t['effect']}"}, old and _taint_text(old),
                                _taint_text(t)))
        return changes, warnings
    for t in taints:
        found = [c for c in node.taints
                 if c.get("key") == t["key"] and (not t.get("effect") or c.get("effect") == t["effect"])]
        changes += [(_("taint %(taint)s") % {"taint": f"{c.get('key')}:{c.get('effect')}"}, _taint_text(c), None)
                    for c in found]
        if not found:
            warnings.append(_("taint %(taint)s is not on this node: the action fails here") % {"taint": _taint_text(t)})
    return changes, warnings


def node_changes(node, action: str, params: dict) -> tuple[list[tuple], list[str]]:
    """What `action` would change on one node (a NodeInfo): [(what, before, after)], and warnings."""
    changes, warnings = [], []
    if action in ("label", "unlabel"):
        labels = node.labels
        changes += [(k, labels.get(k), v) for k, v in params.get("set", {}).items() if labels.get(k) != v]
        changes += [(k, labels[k], None) for k in params.get("remove", []) if k in labels]
        if params.get("taints"):
            more, warned = _taint_changes(node, "taint" if action == "label" else "untaint", params["taints"])
            changes += more
            warnings += warned
    elif action in ("taint", "untaint"):
        changes, warnings = _taint_changes(node, action, params["taints"])
    elif action in ("cordon", "uncordon"):
        if node.schedulable == (action == "cordon"):
            yes, no = _("yes"), _("no")
            changes.append((_("schedulable"), yes if node.schedulable else no, no if node.schedulable else yes))
        if action == "cordon" and params.get("reason") and params["reason"] != node.cordon_reason:
            changes.append((_("cordon reason"), node.cordon_reason or None, params["reason"]))
    return changes, warnings


def action_preview(cluster: Cluster, action: str, params: dict, names: list[str]) -> dict:
    """The preview of `action` on `names`: {"plan": [...]} for a drain, else {"diff": [{node, changes, warnings}]}.

    Labels, taints and cordon state come from the (short-lived) cached node list of the cluster.
    """
    from . import selectors

    if action == "drain":
        plan = drain_plan(cluster, names, params)
        return {"plan": plan, "summary": drain_summary(plan)}
    by_name = {n.name: n for n in selectors.cached_nodes(cluster)}
    diff = []
    for name in names:
        node = by_name.get(name)
        if node is None:
            diff.append({"node": name, "changes": [], "warnings": ["node not found"]})
            continue
        changes, warnings = node_changes(node, action, params)
        diff.append({"node": name, "changes": changes, "warnings": warnings})
    return {"diff": diff}
