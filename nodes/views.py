"""Operator pages: clusters, nodes of a cluster, node detail, batch actions, audit log."""

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import render

from . import selectors
from .kube.errors import KubeError
from .models import AuditEntry


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


def audit_log(request):
    g = request.GET
    try:
        qs, error = selectors.audit_entries(g), ""
    except ValidationError as exc:
        qs, error = AuditEntry.objects.none(), "; ".join(exc.messages)
    page = Paginator(qs, 100).get_page(g.get("page"))
    return render(request, "nodes/audit_log.html", {"page": page, "f": g, "error": error},
                  status=400 if error else 200)
