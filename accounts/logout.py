"""Logging out: kubenode's session ends; a user who signed in through OIDC is also sent to the provider's
end_session_endpoint (`auth.oidc.end_session_endpoint`, RP-initiated logout: id_token_hint, client_id and
post_logout_redirect_uri = kubenode's login page), so the next login asks for the provider's password again."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth import views as auth_views
from django.http import HttpResponseRedirect
from django.urls import reverse

OIDC_BACKEND = "accounts.backends.OIDCBackend"


def provider_logout_url(request) -> str:
    """Where to end the provider's session too ("" when the user did not sign in through OIDC or no
    end_session_endpoint is configured). Also mozilla-django-oidc's OIDC_OP_LOGOUT_URL_METHOD (/oidc/logout/)."""
    endpoint = settings.CONFIG["auth.oidc.end_session_endpoint"]
    if not (settings.CONFIG["auth.oidc.enabled"] and endpoint):
        return ""
    if request.session.get(BACKEND_SESSION_KEY) != OIDC_BACKEND:
        return ""
    params = {"client_id": settings.CONFIG["auth.oidc.client_id"],
              "post_logout_redirect_uri": request.build_absolute_uri(reverse("login"))}
    id_token = request.session.get("oidc_id_token")
    if id_token:
        params["id_token_hint"] = id_token
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"


class LogoutView(auth_views.LogoutView):
    """Django's logout (POST), then on to the provider's end_session_endpoint when the login came from it."""

    def post(self, request, *args, **kwargs):
        provider = provider_logout_url(request)  # read before the session is flushed
        response = super().post(request, *args, **kwargs)
        return HttpResponseRedirect(provider) if provider else response
