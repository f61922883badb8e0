"""Operator pages: clusters, nodes of a cluster, node detail, batch actions, audit log."""
import json

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from kubenode import access

from . import selectors
from .action_views import batch_form_context
from .kube.errors import KubeError
from .models import AuditEntry, Cluster, LabelTaintTemplate

PAGE_SIZE = 100
SORTS = {"name": lambda n: n.name, "status": lambda n: n.status, "version": lambda n: n.kubelet_version,
         "age": lambda n: -(n.age_seconds or 0), "roles": lambda n: ",".join(n.roles),
         "pods": lambda n: (n.pod_count is None, -(n.pod_count or 0))}  # most pods first, unknown counts last


def cluster_list(request):
    return render(request, "nodes/cluster_list.html", {"clusters": Cluster.objects.order_by("name")})


def selector_message(exc: ValidationError) -> str:
    """"Invalid label selector 'x': why" — once, not "Invalid label selector: invalid label selector …"."""
    text = "; ".join(exc.messages)
    return text[:1].upper() + text[1:]


def roles_of(cluster, nodes, role: str, *, selector_invalid: bool = False) -> list[str]:
    """The Role filter's choices: the roles of the cluster's nodes (all of them when the selector is invalid, so
    the filter is not reduced to "any"), and the chosen role in any case."""
    if selector_invalid:
        try:
            nodes = selectors.cached_nodes(cluster)
        except (ValidationError, KubeError):
            nodes = []
    return sorted({r for n in nodes for r in n.roles} | ({role} if role else set()))


def _filter(nodes, q, status, role, taint):
    return selectors.filter_nodes(nodes, q, status, role, taint)


def node_list(request, cluster):
    cluster = get_object_or_404(Cluster, name=cluster)
    g = request.GET
    q, selector = g.get("q", "").strip(), g.get("selector", "").strip()
    status, role, taint = g.get("status", ""), g.get("role", ""), g.get("taint", "").strip()
    sort = g.get("sort", "name") if g.get("sort", "name") in SORTS else "name"
    error, nodes, pods_error, selector_error = "", [], "", False
    try:
        nodes = selectors.cached_nodes(cluster, label_selector=selector)
        pods_error = nodes.pods_error
    except ValidationError as exc:
        error, selector_error = selector_message(exc), True
    except KubeError as exc:
        error = f"Cluster {cluster.name} could not be read: {exc}"
    all_roles = roles_of(cluster, nodes, role, selector_invalid=selector_error)
    nodes = _filter(nodes, q, status, role, taint)
    if sort != "name":  # the list is sorted by name already
        nodes = sorted(nodes, key=SORTS[sort])
    page = Paginator(nodes, PAGE_SIZE).get_page(g.get("page"))
    params = g.copy()
    params.pop("page", None)
    params.pop("task", None)
    return render(request, "nodes/node_list.html", {
        "cluster": cluster, "page": page, "total": len(nodes), "error": error, "pods_error": pods_error,
        "selector_error": selector_error,
        "q": q, "selector": selector,
        "status": status, "role": role, "taint": taint, "sort": sort, "roles": all_roles,
        "query": params.urlencode(), "open_task": _task_id(g.get("task", "")),
        "actions": access.allowed_actions(request.user), "templates": LabelTaintTemplate.objects.all(),
        "can_manage_templates": access.can_manage_templates(request.user),
        "detail_prefix": reverse("nodes:node_list", args=[cluster.name]),
        "filter_json": json.dumps({"q": q, "selector": selector, "status": status, "role": role, "taint": taint}),
        **batch_form_context(request, cluster),
    })


def _task_id(value: str) -> str:
    import uuid
    try:
        return str(uuid.UUID(value)) if value else ""
    except ValueError:
        return ""


def all_nodes(request):
    """Nodes of every cluster, one table (read-only; batches run per cluster)."""
    g = request.GET
    q, selector = g.get("q", "").strip(), g.get("selector", "").strip()
    status, role, taint = g.get("status", ""), g.get("role", ""), g.get("taint", "").strip()
    sort = g.get("sort", "name") if g.get("sort", "name") in SORTS else "name"
    rows, errors = [], []
    for cluster in Cluster.objects.order_by("name"):
        try:
            nodes = selectors.cached_nodes(cluster, label_selector=selector)
            rows += [(cluster, n) for n in nodes]
            if nodes.pods_error:
                errors.append(f"Cluster {cluster.name}: {nodes.pods_error}")
        except ValidationError as exc:
            errors.append(selector_message(exc))
            break
        except KubeError as exc:
            errors.append(f"Cluster {cluster.name} could not be read: {exc}")
    kept = {id(n) for n in _filter([n for _, n in rows], q, status, role, taint)}
    rows = sorted((r for r in rows if id(r[1]) in kept), key=lambda r: (SORTS[sort](r[1]), r[0].name))
    page = Paginator(rows, PAGE_SIZE).get_page(g.get("page"))
    params = g.copy()
    params.pop("page", None)
    return render(request, "nodes/all_nodes.html", {
        "page": page, "total": len(rows), "errors": errors, "q": q, "selector": selector, "status": status,
        "role": role, "taint": taint, "sort": sort, "query": params.urlencode(),
        "roles": sorted({r for _, n in rows for r in n.roles}),
    })


def node_detail(request, cluster, name):
    cluster = get_object_or_404(Cluster, name=cluster)
    try:
        node = selectors.get_node(cluster, name)
    except KubeError as exc:
        return render(request, "nodes/node_detail.html", {"cluster": cluster, "name": name, "error": str(exc)},
                      status=getattr(exc, "status", None) == 404 and 404 or 502)
    audit = AuditEntry.objects.filter(cluster_name=cluster.name, node=name).order_by("-created_at")[:50]
    return render(request, "nodes/node_detail.html", {"cluster": cluster, "name": name, "node": node,
                                                      "audit": audit})


def audit_log(request):
    qs = AuditEntry.objects.order_by("-created_at")
    g = request.GET
    for field, lookup in (("user", "username__icontains"), ("cluster", "cluster_name"), ("node", "node__icontains"),
                          ("action", "action"), ("since", "created_at__date__gte"), ("until", "created_at__date__lte")):
        if g.get(field):
            qs = qs.filter(**{lookup: g[field]})
    try:
        page = Paginator(qs, 100).get_page(g.get("page"))
    except ValidationError:
        page, qs = Paginator(AuditEntry.objects.none(), 100).get_page(1), None
    return render(request, "nodes/audit_log.html", {"page": page, "f": g})
