"""The OIDC login's views (/oidc/authenticate/, /oidc/callback/) when OIDC is enabled, and the login page's
context (its "Log in with …" button)."""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, include, path


def login_context() -> dict:
    return {"oidc_enabled": settings.CONFIG["auth.oidc.enabled"], "oidc_name": settings.CONFIG["auth.oidc.name"],
            "local_login": settings.CONFIG["auth.local_login"]}


def login_urls() -> list:
    if not settings.CONFIG["auth.oidc.enabled"]:
        return []
    from mozilla_django_oidc import urls as oidc_urls

    for pattern in oidc_urls.urlpatterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = login_not_required(pattern.callback)
    return [path("oidc/", include(oidc_urls))]
