"""The language and time zone of a request.

Language: the signed-in user's remembered choice (kubenode.models.Preference, set by the switcher on every page),
else Django's LocaleMiddleware's (the language cookie, then the browser's Accept-Language, then
server.language_code). Time zone: the user's remembered zone, else the browser's own (the `kn_tz` cookie that
base.html's script sets from Intl), else server.time_zone. Only offered languages and real zone names are used.
"""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.utils import timezone, translation

TZ_COOKIE = "kn_tz"


def offered(code: str | None) -> str | None:
    """`code` when it is one of the offered languages (or a variant of one), else None."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def zone(name: str | None):
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def preference_of(user):
    if user is None or not user.is_authenticated:
        return None
    from kubenode.models import Preference

    return Preference.objects.filter(user=user).first()


def remember(user, language: str | None = None, time_zone: str | None = None) -> None:
    """Store the user's choice (None leaves a value as it is)."""
    if user is None or not user.is_authenticated:
        return
    from kubenode.models import Preference

    pref, _ = Preference.objects.get_or_create(user=user)
    if language is not None:
        pref.language = offered(language) or ""
    if time_zone is not None:
        pref.time_zone = time_zone if zone(time_zone) else ""
    pref.save()


class UserLocaleMiddleware:
    """After authentication: the user's remembered language and time zone win over the browser's."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        pref = preference_of(getattr(request, "user", None))
        language = offered(pref.language) if pref else None
        if language and language != translation.get_language():
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        tz = (zone(pref.time_zone) if pref else None) or zone(request.COOKIES.get(TZ_COOKIE))
        timezone.activate(tz or zoneinfo.ZoneInfo(settings.TIME_ZONE))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
