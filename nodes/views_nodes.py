"""Node pages: the nodes of one cluster, of every cluster, and one node (thin: the reads are nodes.selectors)."""

from __future__ import annotations

import json
import uuid

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kubenode import access

from . import display, selectors, watch
from .action_views import batch_form_context
from .kube.errors import KubeError
from .models import AuditEntry, Cluster, LabelTaintTemplate
from .views import selector_message

PAGE_SIZES = (25, 50, 100, 250, 500)
DEFAULT_PAGE_SIZE = 100
NAME_COLUMN = (("name", gettext_lazy("Name"), "name"),)


def list_params(g) -> dict:
    """The filters, sort and page size of a node page's query string, each checked (unknown values fall back)."""
    sort = g.get("sort", "name")
    if sort.lstrip("-") not in selectors.SORTS and not (sort.lstrip("-") == "cluster"):
        sort = "name"
    try:
        per_page = int(g.get("per_page", DEFAULT_PAGE_SIZE))
    except ValueError:
        per_page = DEFAULT_PAGE_SIZE
    if per_page not in PAGE_SIZES:
        per_page = DEFAULT_PAGE_SIZE
    return {"q": g.get("q", "").strip(), "selector": g.get("selector", "").strip(), "status": g.get("status", ""),
            "role": g.get("role", ""), "taint": g.get("taint", "").strip(), "sort": sort, "per_page": per_page}


def _query(g, **drop) -> str:
    params = g.copy()
    for key in ("page", "task", "partial", *drop):
        params.pop(key, None)
    return params.urlencode()


def _headers(g, sort: str, columns) -> list[dict]:
    """Sortable column headers: a link to sort by the column, the same link again reverses it."""
    base = _query(g, sort=True)
    out = []
    for key, title, sort_key in columns:
        entry = {"key": key, "title": title, "sortable": bool(sort_key), "aria_sort": "none", "arrow": ""}
        if sort_key:
            current = sort.lstrip("-") == sort_key
            descending = sort.startswith("-")
            if current:
                entry["aria_sort"] = "descending" if descending else "ascending"
                entry["arrow"] = "▼" if descending else "▲"
            target = f"-{sort_key}" if current and not descending else sort_key
            entry["href"] = f"?{base + '&' if base else ''}sort={target}"
        out.append(entry)
    return out


def _status_links(g, counts: dict | None) -> list[dict]:
    base = _query(g, status=True)
    links = []
    for key, label in (("Ready", "Ready"), ("NotReady", "NotReady"), ("Unknown", "Unknown"),
                       ("cordoned", _("cordoned"))):
        links.append({"key": key, "label": label, "count": (counts or {}).get(key, 0),
                      "href": f"?{base + '&' if base else ''}status={key}"})
    return links


def _task_id(value: str) -> str:
    try:
        return str(uuid.UUID(value)) if value else ""
    except ValueError:
        return ""


def _filtered(every, f: dict) -> list:
    """The nodes matching the filters, in the sort order; kept on the (shared) node list for the next page read
    with the same filters and sort. Raises ValidationError for an invalid selector."""
    key = tuple(f[k] for k in ("q", "selector", "status", "role", "taint", "sort"))
    memo = every.__dict__.setdefault("_filtered", {})
    hit = memo.get(key)
    if hit is not None:
        return hit
    keep = selectors.node_filter(q=f["q"], status=f["status"], role=f["role"], taint=f["taint"],
                                 selector=f["selector"])
    nodes = [n for n in every if keep(n)]
    if f["sort"] != "name":  # the list is sorted by name already
        nodes = selectors.sort_nodes(nodes, f["sort"])
    if len(memo) > 32:
        memo.clear()
    memo[key] = nodes
    return nodes


def _partial(request) -> str:
    """The part of a page a live page reads again (a header, so links made for the page stay the page's own)."""
    return request.headers.get("X-Kubenode-Partial") or request.GET.get("partial", "")


def _live_state(cluster) -> str:
    w = watch.get(cluster)
    return w.state if w is not None else ""


def node_list(request, cluster):
    cluster = get_object_or_404(Cluster, name=cluster)
    g = request.GET
    f = list_params(g)
    error, every, nodes, selector_error = "", selectors.NodeList(), [], False
    try:
        every = selectors.cached_nodes(cluster)
    except KubeError as exc:
        error = _("Cluster %(cluster)s could not be read: %(error)s") % {"cluster": cluster.name, "error": exc}
    try:
        nodes = _filtered(every, f)
    except ValidationError as exc:
        error, selector_error = selector_message(exc), True
    page = Paginator(nodes, f["per_page"]).get_page(g.get("page"))
    ctx = {
        "cluster": cluster, "page": page, "total": len(nodes), "error": error, "pods_error": every.pods_error,
        "selector_error": selector_error,
        "every": every, "metrics_error": every.metrics_error, "has_metrics": every.has_metrics,
        **f, "roles": sorted({r for n in every for r in n.roles}),
        "query": _query(g), "open_task": _task_id(g.get("task", "")),
        "actions": access.allowed_actions(request.user), "templates": LabelTaintTemplate.objects.all(),
        "can_manage_templates": access.can_manage_templates(request.user),
        "detail_prefix": reverse("nodes:node_list", args=[cluster.name]),
        "filter_json": json.dumps({k: f[k] for k in ("q", "selector", "status", "role", "taint")}),
        "headers": _headers(g, f["sort"], NAME_COLUMN + display.COLUMNS),
        "status_links": _status_links(g, every.counts), "columns_key": "cluster",
        "rows": [{"node": n, "cluster": cluster} for n in page],
        "page_sizes": PAGE_SIZES, **batch_form_context(request, cluster),
        "live": {"cluster": cluster.name, "version": every.live_version, "state": _live_state(cluster),
                 "filter": {k: f[k] for k in ("q", "selector", "status", "role", "taint")}},
    }
    if _partial(request) == "table":
        return render(request, "nodes/_node_table.html", ctx)
    return render(request, "nodes/node_list.html", ctx)


def all_nodes(request):
    """Nodes of every cluster, one table (batches run per cluster, from a cluster's own list)."""
    g = request.GET
    f = list_params(g)
    rows, errors = [], []
    try:
        keep = selectors.node_filter(q=f["q"], status=f["status"], role=f["role"], taint=f["taint"],
                                     selector=f["selector"])
    except ValidationError as exc:
        errors.append(selector_message(exc))
        keep = None
    roles: set = set()
    counts = {"Ready": 0, "NotReady": 0, "Unknown": 0, "cordoned": 0, "total": 0}
    for cluster in Cluster.objects.order_by("name"):
        try:
            every = selectors.cached_nodes(cluster)
        except KubeError as exc:
            errors.append(f"Cluster {cluster.name} could not be read: {exc}")
            continue
        if every.pods_error:
            errors.append(f"Cluster {cluster.name}: {every.pods_error}")
        roles.update(r for n in every for r in n.roles)
        for k, v in (every.counts or {}).items():
            counts[k] = counts.get(k, 0) + v
        if keep is not None:
            rows += [(cluster, n) for n in every if keep(n)]
    sort = f["sort"]
    if sort.lstrip("-") == "cluster":
        rows.sort(key=lambda r: (r[0].name, r[1].name), reverse=sort.startswith("-"))
    else:
        ordered = selectors.sort_nodes([n for _, n in rows], sort)
        where = {id(n): c for c, n in rows}
        rows = [(where[id(n)], n) for n in ordered]
    page = Paginator(rows, f["per_page"]).get_page(g.get("page"))
    columns = (("cluster", gettext_lazy("Cluster"), "cluster"), *NAME_COLUMN, *display.COLUMNS)
    return render(request, "nodes/all_nodes.html", {
        "page": page, "total": len(rows), "errors": errors, **f, "query": _query(g), "columns_key": "all",
        "rows": [{"node": n, "cluster": c} for c, n in page], "with_cluster": True,
        "roles": sorted(roles), "headers": _headers(g, sort, columns), "status_links": _status_links(g, counts),
        "page_sizes": PAGE_SIZES, "counts": counts,
    })


def node_detail(request, cluster, name):
    cluster = get_object_or_404(Cluster, name=cluster)
    try:
        detail = selectors.node_detail(cluster, name)
    except KubeError as exc:
        return render(request, "nodes/node_detail.html", {"cluster": cluster, "name": name, "error": str(exc)},
                      status=getattr(exc, "status", None) if getattr(exc, "status", None) in (400, 404) else 502)
    audit = AuditEntry.objects.filter(cluster_name=cluster.name, node=name).order_by("-created_at", "-id")[:50]
    node = detail.node
    live = watch.get(cluster)
    template = "nodes/_node_detail_main.html" if _partial(request) == "main" else "nodes/node_detail.html"
    return render(request, template, {
        "cluster": cluster, "name": name, "node": node, "detail": detail, "audit": audit,
        "cells": display.safe_cells(node), "actions": access.allowed_actions(request.user),
        "live": {"cluster": cluster.name, "node": name, "version": live.version if live else None,
                 "state": live.state if live else "",
                 "filter": {"q": "", "selector": "", "status": "", "role": "", "taint": ""}},
    })
