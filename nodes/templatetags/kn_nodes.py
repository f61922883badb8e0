"""Filters of the node pages. Cells are made in Python once per row (nodes.display), shared with live updates."""
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

from django import template
from django.utils import translation
from django.utils.safestring import mark_safe

from nodes import display
from nodes.kube import quantity

register = template.Library()


@register.filter
def label_chips(labels: dict):
    return mark_safe(display.label_chips(labels, shown=1000))  # noqa: S308 - escaped in display


@register.filter
def cells(node) -> dict:
    """HTML of every column of a node table row; kept on the (shared, never modified) NodeInfo once made, per
    language (the cells hold words and numbers of the page's language, and NodeInfo is shared by every request)."""
    language = translation.get_language()
    made_in = node.__dict__.get("_cells") or {}
    made = made_in.get(language)
    if made is None:
        made = display.safe_cells(node)
        node.__dict__["_cells"] = {**made_in, language: made}
    return made


@register.filter
def age(seconds):
    """kubectl's short age: 45s, 12m, 5h, 3d, 2y."""
    return display.age_text(seconds)


@register.filter
def age_of(moment):
    """kubectl's short age of a datetime."""
    moment = display.parse_time(moment)
    return display.age_text((datetime.now(UTC) - moment).total_seconds()) if moment else ""


@register.filter
def without(query: str, key: str) -> str:
    """A query string without `key`."""
    return urlencode([(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != key])


@register.filter
def when(value):
    """A Kubernetes timestamp (ISO string or datetime) as the pages show every time: 2026-01-31 14:05:09 UTC in a
    <time> element whose title says how long ago."""
    moment = display.parse_time(value)
    if moment is None:
        return "—"
    return mark_safe(display.time_html(moment))  # noqa: S308 - built from a datetime


@register.filter
def cores(value):
    return quantity.cores(value)


@register.filter
def bytes_iec(value):
    return quantity.binary_bytes(value)
