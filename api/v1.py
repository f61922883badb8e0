"""Version 1 of the JSON API: clusters, nodes, batches, their messages, the audit log and templates.

Thin: every read is a selector the pages use, every batch goes through nodes.batches (through the pages' batch
form), every permission is a rule of kubenode.access. A token acts as its user; operations that change something
need a token of scope `actions` (auth.ACTS). Errors are problem documents (api.problems).
"""

from __future__ import annotations

from typing import Any, Literal

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, QueryDict
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Query, Router, Schema
from pydantic import Field

from kubenode import access
from nodes import batches, selectors, services
from nodes.action_views import PREVIEW_LIMIT, fingerprint
from nodes.forms import BatchActionForm, TemplateForm, data_with_defaults
from nodes.kube.errors import KubeError
from nodes.models import Cluster, LabelTaintTemplate
from nodes.views import selector_message
from nodes.views_nodes import list_params
from progress import selectors as task_selectors
from progress.models import ProgressTask

from . import problems
from .auth import ACTS, READ

api = NinjaAPI(
    title="kubenode API", version="1", urls_namespace="api-v1", auth=READ,
    description="Clusters, nodes, batches of node actions and their progress, the audit log and templates. "
                "Authenticate with a personal access token (`Authorization: Bearer kn_…`), created on the "
                "Access tokens page, or, signed in, with the browser's session (POST, PUT and DELETE then need "
                "the CSRF token in an X-CSRFToken header; this page sends it). Errors are RFC 9457 problem "
                "documents.")
problems.install(api)

# ---- Schemas ---------------------------------------------------------------------------------------------------


class Problem(Schema):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str
    errors: list[dict[str, Any]] | None = None


class ClusterOut(Schema):
    name: str
    source: str
    context: str
    server: str
    simulated: bool
    last_check_at: str | None
    last_check_ok: bool | None
    last_check_message: str


class CheckOut(Schema):
    cluster: str
    ok: bool
    reachable: bool
    authenticated: bool | None
    server_version: str
    can_list_nodes: str
    can_patch_nodes: str
    can_evict_pods: str
    node_count: int | None
    error: str
    message: str


class NodeOut(Schema):
    name: str
    status: str
    schedulable: bool
    roles: list[str]
    labels: dict[str, str]
    taints: list[dict[str, Any]]
    kubelet_version: str
    internal_ip: str | None = None
    pod_count: int | None
    cordon_reason: str
    cordoned_by: str
    created: str | None
    cpu_allocatable: float | None
    memory_allocatable: float | None
    cpu_requests: float | None
    memory_requests: float | None
    cpu_usage: float | None
    memory_usage: float | None


class NodePage(Schema):
    cluster: str
    count: int
    page: int
    pages: int
    per_page: int
    counts: dict[str, int]
    items: list[NodeOut]


class NodeDetailOut(NodeOut):
    annotations: dict[str, str]
    conditions: list[dict[str, Any]]
    addresses: dict[str, Any]
    capacity: dict[str, Any]
    allocatable: dict[str, Any]
    os: str
    arch: str
    os_image: str
    container_runtime: str
    kernel_version: str
    pods: list[dict[str, Any]]
    events: list[dict[str, Any]]
    events_error: str
    usage_error: str
    recent_audit: list[dict[str, Any]]


class NodeQuery(Schema):
    q: str = Field("", description="name contains")
    selector: str = Field("", description="a Kubernetes label selector")
    status: Literal["", "Ready", "NotReady", "Unknown", "cordoned"] = ""
    role: str = ""
    taint: str = Field("", description="nodes with a taint of this key (key or key=value)")
    sort: str = Field("name", description=f"one of {', '.join(selectors.SORTS)}; a leading - reverses")
    page: int = Field(1, ge=1)
    per_page: int = Field(100, description="25, 50, 100, 250 or 500")


class BatchIn(Schema):
    """A batch as the node pages' batch form takes it: the action, its options, the targets."""

    action: Literal["label", "unlabel", "taint", "untaint", "cordon", "uncordon", "drain"]
    nodes: list[str] | None = Field(None, description="node names (or give a selector, filters or all_nodes)")
    selector: str = Field("", description="a label selector, resolved when the batch starts")
    q: str = Field("", description="with the list's filters: the nodes the node list shows for them")
    status: str = ""
    role: str = ""
    taint: str = ""
    all_nodes: bool = False
    template: str | None = Field(None, description="the name of a label and taint template")
    set: list[str] = Field([], description="labels to set, key=value")
    remove: list[str] = Field([], description="label keys to remove (untaint: taints to remove)")
    taints: list[str] = Field([], description="taints, key=value:Effect (untaint: key, key:Effect)")
    confirm_reserved: bool = False
    reason: str = ""
    ignore_daemonsets: bool | None = None
    delete_emptydir_data: bool | None = None
    force: bool | None = None
    disable_eviction: bool | None = None
    grace_period: int | None = None
    timeout: int | None = None
    pod_selector: str = ""
    skip_wait_for_delete_timeout: int | None = None
    concurrency: int | None = Field(None, description="nodes at once (empty: the per-cluster limit)")
    fingerprint: str | None = Field(None, description="the preview's fingerprint: the batch starts only when what "
                                                      "it would do is still what was previewed")


class PreviewOut(Schema):
    cluster: str
    action: str
    params: dict[str, Any]
    count: int
    nodes: list[str]
    shown: int
    fingerprint: str
    diff: list[dict[str, Any]] | None = None
    plan: list[dict[str, Any]] | None = None
    summary: dict[str, Any] | None = None


class TaskOut(Schema):
    task: str
    user: str
    cluster: str
    action: str
    parameters: dict[str, Any]
    selector: str
    status: str
    finished: bool
    total: int
    done: int
    succeeded: int
    failed: int
    current_node: str
    error: str
    last_seq: int
    retry_of: str | None
    cancel_requested: bool
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    url: str


class TaskDetailOut(TaskOut):
    nodes: list[dict[str, Any]]


class TaskPage(Schema):
    count: int
    page: int
    pages: int
    items: list[TaskOut]


class RetryIn(Schema):
    which: Literal["failed", "remaining", "both"] = "both"


class MessagesOut(Schema):
    task: str
    status: str
    finished: bool
    last_seq: int
    messages: list[dict[str, Any]]
    more: bool


class AuditOut(Schema):
    id: int
    created_at: str
    username: str
    cluster: str
    node: str
    action: str
    reason: str
    before: dict[str, Any]
    after: dict[str, Any]
    outcome: str
    error: str
    task: str | None
    via_token: str | None = Field(None, description="the access token the change was asked with (null: a page, "
                                                    "a command or a browser session)")


class AuditPage(Schema):
    count: int
    page: int
    pages: int
    items: list[AuditOut]


class AuditQuery(Schema):
    user: str = Field("", description="user name contains")
    cluster: str = ""
    node: str = Field("", description="node name contains")
    action: str = ""
    since: str = Field("", description="a date, YYYY-MM-DD (inclusive)")
    until: str = Field("", description="a date, YYYY-MM-DD (inclusive)")
    task: str = Field("", description="the entries of one batch")
    page: int = Field(1, ge=1)


class TemplateOut(Schema):
    id: int
    name: str
    description: str
    labels: dict[str, str]
    remove_labels: list[str]
    taints: list[dict[str, Any]]
    created_by: str


class TemplateIn(Schema):
    name: str
    description: str = ""
    labels: list[str] = Field([], description="key=value")
    remove_labels: list[str] = []
    taints: list[str] = Field([], description="key=value:Effect")


ERRORS = {400: Problem, 401: Problem, 403: Problem, 404: Problem, 429: Problem}
UPSTREAM = {**ERRORS, 502: Problem}

# ---- Helpers -----------------------------------------------------------------------------------------------------


def _iso(value):
    return value.isoformat() if value else None


def _cluster(name: str) -> Cluster:
    cluster = Cluster.objects.filter(name=name).first()
    if cluster is None:
        raise Http404(_("no cluster %(name)s") % {"name": repr(name)})
    return cluster


def _task(request, task_id) -> ProgressTask:
    try:
        return task_selectors.get_task_for(request.user, task_id)
    except PermissionDenied:
        raise Http404(_("no such task")) from None


def _page(items, number: int, per_page: int):
    paginator = Paginator(items, per_page)
    if number > max(paginator.num_pages, 1):
        raise problems.Problem(404, _("no page %(number)s: there are %(pages)s") % {
            "number": number, "pages": paginator.num_pages})
    return paginator.page(number), paginator


def _node(n) -> dict:
    return {"name": n.name, "status": n.status, "schedulable": n.schedulable, "roles": list(n.roles),
            "labels": dict(n.labels), "taints": list(n.taints), "kubelet_version": n.kubelet_version,
            "internal_ip": (n.addresses or {}).get("InternalIP"), "pod_count": n.pod_count,
            "cordon_reason": n.cordon_reason, "cordoned_by": n.cordoned_by, "created": _iso(n.created),
            "cpu_allocatable": n.cpu_allocatable, "memory_allocatable": n.memory_allocatable,
            "cpu_requests": n.cpu_requests, "memory_requests": n.memory_requests, "cpu_usage": n.cpu_usage,
            "memory_usage": n.memory_usage}


def _task_out(task) -> dict:
    state = task_selectors.task_state(task)
    state["url"] = reverse("api-v1:get_batch", args=[task.pk])
    return state


def _audited(request, task) -> None:
    request.api_task_id = task.pk  # the token request's audit row names the batch


def _via_token(request) -> str:
    """The name of the access token of this request ("" for a browser session): audit entries name it."""
    token = getattr(request, "api_token", None)
    return token.name if token is not None else ""


def _template_out(t: LabelTaintTemplate) -> dict:
    return {"id": t.pk, "name": t.name, "description": t.description, "labels": t.labels,
            "remove_labels": t.remove_labels, "taints": t.taints, "created_by": t.created_by}


def batch_form(cluster: Cluster, body: BatchIn) -> BatchActionForm:
    """The pages' batch form bound to the request's batch; a problem document with every error if it is bad."""
    data = QueryDict(mutable=True)
    values = {"action": body.action, "set": "\n".join(body.set), "remove": "\n".join(body.remove),
              "taints": "\n".join(body.taints), "reason": body.reason, "pod_selector": body.pod_selector,
              "concurrency": "" if body.concurrency is None else str(body.concurrency),
              "confirm_reserved": body.confirm_reserved}
    if body.action == "untaint" and body.remove:  # a taint key to remove, as kubectl taint KEY-
        values["taints"], values["remove"] = "\n".join([*body.taints, *body.remove]), ""
    if body.template:
        template = LabelTaintTemplate.objects.filter(name=body.template).first()
        if template is None:
            missing = _("no template %(name)s") % {"name": repr(body.template)}
            raise problems.Problem(400, _("Apply template: %(error)s") % {"error": missing},
                                   [{"field": "template", "message": missing}])
        values["template"] = str(template.pk)
    for name in ("ignore_daemonsets", "delete_emptydir_data", "force", "disable_eviction", "grace_period",
                 "timeout", "skip_wait_for_delete_timeout"):
        if getattr(body, name) is not None:
            values[name] = getattr(body, name)
    filters = {k: getattr(body, k) for k in ("q", "status", "role", "taint") if getattr(body, k)}
    chosen = sum([body.nodes is not None, bool(body.selector or filters), body.all_nodes])
    if chosen != 1:
        raise problems.Problem(400, _("choose exactly one target: node names, a label selector or the list's "
                                      "filters, or all nodes"))
    values = data_with_defaults(values)
    for key, value in values.items():
        if isinstance(value, bool):
            if value:
                data[key] = "on"
        else:
            data[key] = str(value)
    if body.nodes is not None:
        data.setlist("node", [n for n in body.nodes if n.strip()])
        if not data.getlist("node"):
            raise problems.Problem(400, _("no node names given"))
    elif body.selector or filters:
        data["select_all"] = "on"
        data["selector"] = body.selector
        for key, value in filters.items():
            data[key] = value
    else:
        data["all_nodes"] = "on"
    form = BatchActionForm(data, cluster=cluster)
    if not form.is_valid():
        raise problems.form_problem(form)
    return form


# ---- Clusters ----------------------------------------------------------------------------------------------------

clusters = Router(tags=["clusters"])


@clusters.get("", response={200: list[ClusterOut], **ERRORS}, summary="List the clusters")
def list_clusters(request):
    return [{"name": c.name, "source": c.source, "context": c.context, "server": c.server,
             "simulated": c.simulated, "last_check_at": _iso(c.last_check_at), "last_check_ok": c.last_check_ok,
             "last_check_message": c.last_check_message} for c in Cluster.objects.order_by("name")]


@clusters.post("/{cluster}/check", auth=ACTS, response={200: CheckOut, **ERRORS},
               summary="Check a cluster: reachability, version, permissions (admins)")
def check_cluster(request, cluster: str):
    access.require_manage_clusters(request.user)
    return services.check_cluster(_cluster(cluster)).as_dict()


# ---- Nodes -------------------------------------------------------------------------------------------------------


@clusters.get("/{cluster}/nodes", response={200: NodePage, **UPSTREAM}, tags=["nodes"],
              summary="List a cluster's nodes with the node list's filters, sort and pages")
def list_nodes(request, cluster: str, query: Query[NodeQuery]):
    cluster = _cluster(cluster)
    f = list_params({k: str(v) for k, v in query.dict().items()})
    try:
        every = selectors.cached_nodes(cluster)
    except KubeError as exc:
        raise problems.Problem(502, _("Cluster %(cluster)s could not be read: %(error)s") % {
            "cluster": cluster.name, "error": exc}) from None
    try:
        keep = selectors.node_filter(q=f["q"], status=f["status"], role=f["role"], taint=f["taint"],
                                     selector=f["selector"])
    except ValidationError as exc:
        raise problems.Problem(400, selector_message(exc)) from None
    nodes = [n for n in every if keep(n)]
    if f["sort"] != "name":
        nodes = selectors.sort_nodes(nodes, f["sort"])
    page, paginator = _page(nodes, query.page, f["per_page"])
    return {"cluster": cluster.name, "count": paginator.count, "page": page.number, "pages": paginator.num_pages,
            "per_page": f["per_page"], "counts": dict(every.counts or {}), "items": [_node(n) for n in page]}


@clusters.get("/{cluster}/nodes/{name}", response={200: NodeDetailOut, **UPSTREAM}, tags=["nodes"],
              summary="One node: its labels, taints, conditions, pods, events and recent audit entries")
def get_node(request, cluster: str, name: str):
    cluster = _cluster(cluster)
    detail = selectors.node_detail(cluster, name)
    n = detail.node
    recent = selectors.audit_entries({"cluster": cluster.name}).filter(node=name)[:50]
    return {**_node(n), "annotations": dict(n.annotations), "conditions": list(n.conditions),
            "addresses": dict(n.addresses), "capacity": dict(n.capacity), "allocatable": dict(n.allocatable),
            "os": n.os, "arch": n.arch, "os_image": n.os_image, "container_runtime": n.container_runtime,
            "kernel_version": n.kernel_version, "pods": list(n.pods or []), "events": detail.events,
            "events_error": detail.events_error, "usage_error": detail.usage_error,
            "recent_audit": [_audit(e) for e in recent]}


# ---- Batches -----------------------------------------------------------------------------------------------------

batch_router = Router(tags=["batches"])


@clusters.post("/{cluster}/batches/preview", response={200: PreviewOut, **UPSTREAM}, tags=["batches"],
               summary="Preview a batch: the nodes it acts on and what changes on each (changes nothing)")
def preview_batch(request, cluster: str, body: BatchIn):
    cluster = _cluster(cluster)
    access.require_run(request.user, body.action)
    form = batch_form(cluster, body)
    names = form.resolve_names()
    params = form.cleaned_data["params"]
    shown = names[:PREVIEW_LIMIT]
    preview = services.action_preview(cluster, body.action, params, shown)
    return {"cluster": cluster.name, "action": body.action, "params": params, "count": len(names), "nodes": shown,
            "shown": len(shown), "fingerprint": fingerprint(body.action, params, names), **preview}


@clusters.post("/{cluster}/batches", auth=ACTS, response={201: TaskOut, 409: Problem, **UPSTREAM},
               tags=["batches"], summary="Start a batch (queued for the workers)")
def create_batch(request, cluster: str, body: BatchIn):
    cluster = _cluster(cluster)
    access.require_run(request.user, body.action)
    form = batch_form(cluster, body)
    names = None
    if body.fingerprint is not None or form.target.filtered:
        names = form.resolve_names()
    if body.fingerprint is not None and body.fingerprint != fingerprint(body.action, form.cleaned_data["params"],
                                                                        names):
        raise problems.Problem(409, _("Nothing was run: what to do changed since the preview. Check the new "
                                      "preview, then run it."))
    task = form.start(request.user, names=names, via_token=_via_token(request))
    _audited(request, task)
    return 201, _task_out(task)


@batch_router.get("", response={200: TaskPage, **ERRORS}, summary="List the batches you may see (staff: all)")
def list_batches(request, status: str = "", cluster: str = "", action: str = "", page: int = 1):
    qs = task_selectors.visible_tasks(request.user).order_by("-created_at")
    for field, value in (("status", status), ("cluster_name", cluster), ("action", action)):
        if value:
            qs = qs.filter(**{field: value})
    current, paginator = _page(qs, page, 50)
    return {"count": paginator.count, "page": current.number, "pages": paginator.num_pages,
            "items": [_task_out(t) for t in current]}


@batch_router.get("/{task_id}", response={200: TaskDetailOut, **ERRORS}, url_name="get_batch",
                  summary="One batch: its state and the outcome of each node")
def get_batch(request, task_id: str):
    task = _task(request, task_id)
    return {**_task_out(task), "nodes": task_selectors.node_outcomes(task)}


@batch_router.get("/{task_id}/messages", response={200: MessagesOut, **ERRORS},
                  summary="A batch's messages after a seq (the WebSocket's resume contract)")
def batch_messages(request, task_id: str, after_seq: int = Query(0, ge=0)):
    """Messages with seq greater than `after_seq`, in order, at most 500; `more` says another page follows. Ask
    again with the last seq received: nothing is skipped, nothing sent twice. The final message has type
    complete, error, cancelled or interrupted."""
    task = _task(request, task_id)
    frames = task_selectors.messages_after(task.pk, after_seq)
    return {"task": str(task.pk), "status": task.status, "finished": task.is_finished, "last_seq": task.last_seq,
            "messages": frames, "more": bool(frames) and frames[-1]["seq"] < task.last_seq}


@batch_router.post("/{task_id}/cancel", auth=ACTS, response={200: TaskOut, 409: Problem, **ERRORS},
                   summary="Ask a running batch to stop at the next node")
def cancel_batch(request, task_id: str):
    task = _task(request, task_id)
    access.require_manage_task(request.user, task)
    try:
        task = batches.cancel_batch(task, request.user)
    except ValidationError as exc:
        raise problems.Problem(409, problems.joined(exc.messages)) from None
    _audited(request, task)
    return _task_out(task)


@batch_router.post("/{task_id}/retry", auth=ACTS, response={201: TaskOut, 409: Problem, **ERRORS},
                   summary="Run a finished batch's failed and/or unfinished nodes again, as you")
def retry_batch(request, task_id: str, body: RetryIn | None = None):
    task = _task(request, task_id)
    which = (body or RetryIn()).which
    try:
        new = batches.retry_batch(task, request.user, failed=which in ("failed", "both"),
                                  remaining=which in ("remaining", "both"), via_token=_via_token(request))
    except ValidationError as exc:
        raise problems.Problem(409, problems.joined(exc.messages)) from None
    _audited(request, new)
    return 201, _task_out(new)


# ---- Audit -------------------------------------------------------------------------------------------------------

audit_router = Router(tags=["audit"])


def _audit(e) -> dict:
    return {"id": e.pk, "created_at": e.created_at.isoformat(), "username": e.username, "cluster": e.cluster_name,
            "node": e.node, "action": e.action, "reason": e.reason, "before": e.before, "after": e.after,
            "outcome": e.outcome, "error": e.error, "task": str(e.task_id) if e.task_id else None,
            "via_token": e.via_token or None}


@audit_router.get("", response={200: AuditPage, **ERRORS}, summary="Audit entries, newest first, with the audit "
                                                                    "log's filters")
def list_audit(request, query: Query[AuditQuery]):
    try:
        qs = selectors.audit_entries(query.dict())
        if query.task:
            qs = qs.filter(task_id=query.task)
        current, paginator = _page(qs, query.page, 100)
    except ValidationError as exc:
        raise problems.Problem(400, problems.joined(exc.messages)) from None
    return {"count": paginator.count, "page": current.number, "pages": paginator.num_pages,
            "items": [_audit(e) for e in current]}


# ---- Templates ---------------------------------------------------------------------------------------------------

template_router = Router(tags=["templates"])


def _template_form(body: TemplateIn, instance=None) -> TemplateForm:
    form = TemplateForm({"name": body.name, "description": body.description,
                         "labels_text": "\n".join(body.labels), "remove_text": "\n".join(body.remove_labels),
                         "taints_text": "\n".join(body.taints)}, instance=instance)
    if not form.is_valid():
        raise problems.form_problem(form)
    return form


@template_router.get("", response={200: list[TemplateOut], **ERRORS}, summary="Label and taint templates")
def list_templates(request):
    access.require_manage_templates(request.user)
    return [_template_out(t) for t in LabelTaintTemplate.objects.all()]


@template_router.get("/{template_id}", response={200: TemplateOut, **ERRORS}, summary="One template")
def get_template(request, template_id: int):
    access.require_manage_templates(request.user)
    return _template_out(get_object_or_404(LabelTaintTemplate, pk=template_id))


@template_router.post("", auth=ACTS, response={201: TemplateOut, **ERRORS}, summary="Add a template")
def create_template(request, body: TemplateIn):
    access.require_manage_templates(request.user)
    return 201, _template_out(_template_form(body).save(user=request.user))


@template_router.put("/{template_id}", auth=ACTS, response={200: TemplateOut, **ERRORS},
                     summary="Replace a template")
def update_template(request, template_id: int, body: TemplateIn):
    access.require_manage_templates(request.user)
    template = get_object_or_404(LabelTaintTemplate, pk=template_id)
    return _template_out(_template_form(body, instance=template).save(user=request.user))


@template_router.delete("/{template_id}", auth=ACTS, response={204: None, **ERRORS}, summary="Delete a template")
def delete_template(request, template_id: int):
    access.require_manage_templates(request.user)
    get_object_or_404(LabelTaintTemplate, pk=template_id).delete()
    return 204, None


api.add_router("/clusters", clusters)
api.add_router("/batches", batch_router)
api.add_router("/audit", audit_router)
api.add_router("/templates", template_router)
