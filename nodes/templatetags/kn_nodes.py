"""Filters of the node pages, done in Python once per row (a 100-row page renders ~1,000 label chips)."""
from html import escape

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def label_chips(labels: dict):
    return mark_safe(" ".join(f'<span class="kn-chip">{escape(str(k))}={escape(str(v))}</span>'  # noqa: S308
                              for k, v in (labels or {}).items()))


@register.filter
def age(seconds):
    """kubectl's short age: 45s, 12m, 5h, 3d, 2y."""
    if seconds is None:
        return ""
    s = int(seconds)
    for size, unit in ((365 * 86400, "y"), (86400, "d"), (3600, "h"), (60, "m")):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{max(s, 0)}s"
