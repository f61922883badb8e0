"""Filters of the node pages. Cells are made in Python once per row (nodes.display), shared with live updates."""
from urllib.parse import parse_qsl, urlencode

from django import template
from django.utils.safestring import mark_safe

from nodes import display
from nodes.kube import quantity

register = template.Library()


@register.filter
def label_chips(labels: dict):
    return mark_safe(display.label_chips(labels, shown=1000))  # noqa: S308 - escaped in display


@register.filter
def cells(node) -> dict:
    """HTML of every column of a node table row; kept on the (shared, never modified) NodeInfo once made."""
    made = node.__dict__.get("_cells")
    if made is None:
        made = node.__dict__["_cells"] = display.safe_cells(node)
    return made


@register.filter
def age(seconds):
    """kubectl's short age: 45s, 12m, 5h, 3d, 2y."""
    return display.age_text(seconds)


@register.filter
def without(query: str, key: str) -> str:
    """A query string without `key`."""
    return urlencode([(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != key])


@register.filter
def cores(value):
    return quantity.cores(value)


@register.filter
def bytes_iec(value):
    return quantity.binary_bytes(value)
