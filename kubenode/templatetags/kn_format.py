"""Formats every page shares: one timestamp format (`{% load kn_format %}` … `{{ value|when }}`)."""
from __future__ import annotations

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

register = template.Library()

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@register.filter
def when(value):
    """One timestamp format on every page: 2025-01-31 13:04:05 UTC, in a <time> element with the ISO value."""
    if not value:
        return ""
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            return value
        value = parsed
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return format_html('<time datetime="{}">{} {}</time>', value.isoformat(), local.strftime(TIME_FORMAT),
                       local.tzname() or "")
