"""The language and time zone of a request.

Language: the signed-in user's remembered choice (kubenode.models.Preference, set by the switcher on every page),
else the language cookie (the switcher's, for a visitor), else the first offered language of the browser's
Accept-Language, else server.language_code. Time zone: the user's remembered zone, else the browser's own (the
`kn_tz` cookie that base.html's script sets from Intl), else server.time_zone. Only offered languages
(server.languages) and real zone names are used. Outside pages (commands, logs, threads) Django's LANGUAGE_CODE,
English, applies.
"""

from __future__ import annotations

import zoneinfo
from urllib.parse import unquote

from django.conf import settings
from django.utils import timezone, translation

TZ_COOKIE = "kn_tz"


def offered(code: str | None) -> str | None:
    """`code` when it is one of the offered languages (server.languages) or a variant of one, else None."""
    if not code or not isinstance(code, str):
        return None
    try:
        variant = translation.get_supported_language_variant(code)
    except LookupError:
        return None
    return variant if variant in settings.OFFERED_LANGUAGES else None


def browser_language(request) -> str | None:
    """The language cookie, else the first offered language of Accept-Language; None: neither says one."""
    return offered(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)) or header_language(request)


def header_language(request) -> str | None:
    """The first offered language of the request's Accept-Language header; None: it names none."""
    return _first_offered(request.headers.get("Accept-Language", ""))


def saved_language(user) -> str | None:
    """The language the user chose (the switcher), else the one their pages last spoke; None: neither."""
    pref = preference_of(user)
    return (offered(pref.language) or offered(pref.page_language)) if pref else None


def api_language(request, user=None) -> str:
    """The language of an API answer: Accept-Language (a program asks for one), else the user's saved language
    (session users here; token users once their token is known, api.auth), else server.language_code."""
    return header_language(request) or saved_language(user if user is not None else getattr(request, "user", None)) \
        or settings.PAGE_LANGUAGE_CODE


def socket_language(scope, user) -> str:
    """The language of a WebSocket's messages: as the user's pages (their choice, else the switcher's cookie,
    else the handshake's Accept-Language, else what their pages last spoke), else server.language_code."""
    accept = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == b"accept-language"), "")
    pref = preference_of(user)
    return (offered(pref.language) if pref else None) or \
        offered((scope.get("cookies") or {}).get(settings.LANGUAGE_COOKIE_NAME)) or _first_offered(accept) or \
        (offered(pref.page_language) if pref else None) or settings.PAGE_LANGUAGE_CODE


def _first_offered(header: str) -> str | None:
    from django.utils.translation.trans_real import parse_accept_lang_header

    for code, _quality in parse_accept_lang_header(header):
        if code == "*":
            break
        if offered(code):
            return offered(code)
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


def remember_page_language(user, language: str) -> None:
    """What the user's pages speak now (written when it changes): their batches' errors follow it."""
    from django.db import IntegrityError

    from kubenode.models import Preference

    try:
        Preference.objects.update_or_create(user=user, defaults={"page_language": language})
    except IntegrityError:  # another request of this user made the row meanwhile: the next one writes it
        pass


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
        language = (offered(pref.language) if pref else None) or browser_language(request) or \
            settings.PAGE_LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        if getattr(request, "user", None) is not None and request.user.is_authenticated and \
                (pref is None or pref.page_language != language):
            remember_page_language(request.user, language)
        tz = (zone(pref.time_zone) if pref else None) or zone(unquote(request.COOKIES.get(TZ_COOKIE, "")))
        timezone.activate(tz or zoneinfo.ZoneInfo(settings.TIME_ZONE))
        try:
            response = self.get_response(request)
            response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
            return response
        finally:  # the thread goes back to English (LANGUAGE_CODE) for whatever it runs next
            timezone.deactivate()
            translation.deactivate()


def task_language(task) -> str:
    """The language a batch's node errors are written in: its user's chosen language, else the language their
    pages last spoke, else server.language_code."""
    try:
        from kubenode.models import Preference

        chosen, page = Preference.objects.filter(user_id=task.user_id).values_list(
            "language", "page_language").first() or ("", "")
    except Exception:  # noqa: BLE001 - the words of the errors never stop a batch
        chosen = page = None
    return offered(chosen) or offered(page) or settings.PAGE_LANGUAGE_CODE


def context(request):
    """Template context: the languages the switcher offers (server.languages)."""
    return {"offered_languages": settings.OFFERED_LANGUAGES}


# Sentences built from parts, with the separators of the active language (en "; " ", " ": ", zh "；" "，" "：")

def joined(messages) -> str:
    """Several messages (errors) as one sentence."""
    return translation.pgettext("list separator", "; ").join(str(m) for m in messages)


def listed(items) -> str:
    """Short items (flags, counts, usage parts) as one list."""
    return translation.pgettext("list separator", ", ").join(str(i) for i in items)


def labelled(label, message) -> str:
    """A message after its label (a field, a node, a cluster)."""
    return translation.gettext("%(label)s: %(message)s") % {"label": label, "message": message}
