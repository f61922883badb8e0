"""/api/v1/ (the API, its OpenAPI document and interactive page) and the access tokens page."""

from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, URLResolver, path
from django.utils import translation

from kubenode import locale

from . import tokens, views
from .v1 import api


def _api_view(view):
    """An API view: it answers for itself (401 problem documents, not the login page's redirect), in the
    request's language (kubenode.locale.api_language; a token's user's saved language is applied by api.auth);
    each request made with a token leaves an audit row with the token's name."""

    @wraps(view)
    def audited(request, *args, **kwargs):
        language = locale.api_language(request)
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = view(request, *args, **kwargs)
            response["Content-Language"] = request.LANGUAGE_CODE
        token = getattr(request, "api_token", None)
        if token is not None:
            tokens.record_request(token, request, response.status_code, getattr(request, "api_task_id", None))
        return response

    return login_not_required(audited)


def _wrapped(patterns):
    out = []
    for p in patterns:
        if isinstance(p, URLResolver):
            p.url_patterns[:] = _wrapped(p.url_patterns)
        elif isinstance(p, URLPattern):
            p.callback = _api_view(p.callback)
        out.append(p)
    return out


_patterns, _app, _namespace = api.urls
api_urls = (_wrapped(_patterns), _app, _namespace)

urlpatterns = [
    path("tokens/", views.token_list, name="token_list"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
]
