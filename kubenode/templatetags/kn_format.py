"""Formats every page shares: one timestamp format (`{% load kn_format %}` … `{{ value|when }}`)."""
from __future__ import annotations

from django import template
from django.utils import dateformat, timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.translation import pgettext

register = template.Library()


def timestamp_format() -> str:
    """The timestamp format of the active language (Django date format characters)."""
    # Translators: a Django date format (https://docs.djangoproject.com/en/stable/ref/templates/builtins/#date)
    return pgettext("timestamp format", "Y-m-d H:i:s")


@register.filter
def when(value):
    """One timestamp format on every page, in the user's language and time zone: 2025-01-31 13:04:05 UTC (English),
    2025年1月31日 13:04:05 CST (Chinese), in a <time> element whose datetime and title hold the ISO value (UTC)."""
    if not value:
        return ""
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            return value
        value = parsed
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    iso = value.isoformat()
    return format_html('<time datetime="{}" title="{}">{} {}</time>', iso, iso,
                       dateformat.format(local, timestamp_format()), local.tzname() or "")
