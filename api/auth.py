"""Authentication of the API: a bearer token (its user, within its scope) or the browser's session (the signed-in
user, as on the pages; CSRF enforced on unsafe methods). The same access rules (kubenode.access) apply to both."""

from __future__ import annotations

from django.conf import settings
from django.http.request import RawPostDataException
from django.utils import translation
from django.utils.translation import gettext as _
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from kubenode import access, locale

from . import tokens
from .problems import Problem


class TokenAuth(HttpBearer):
    """`Authorization: Bearer kn_…`; `acts=True` for operations that change something (scope `actions`)."""

    def __init__(self, acts: bool = False):
        super().__init__()
        self.acts = acts

    def authenticate(self, request, token: str):
        found = tokens.authenticate(token.strip())
        if found is None:
            return None
        request.api_token = found  # the request is audited with the token's name, even when refused below
        request.user = found.user
        if not locale.header_language(request):  # the answer speaks the token's user's saved language
            request.LANGUAGE_CODE = locale.saved_language(found.user) or request.LANGUAGE_CODE
            translation.activate(request.LANGUAGE_CODE)
        tokens.count_request(found)
        if self.acts:
            access.require_token_may_act(found)
        return found


class SessionAuth(APIKeyCookie):
    """The browser's session (a signed-in user: the interactive page, scripts in the pages). A request that carries
    an Authorization header is the token's alone. POST, PUT, PATCH and DELETE need the CSRF token (the csrftoken
    cookie's value in an X-CSRFToken header), as the pages' forms do; without it: 403, nothing done."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self):
        super().__init__(csrf=True)

    def _get_key(self, request):
        if "authorization" in request.headers or not request.user.is_authenticated:
            return None
        if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
            try:
                request.body  # noqa: B018 - read (and kept) before the CSRF check parses a form out of the stream
            except RawPostDataException:
                pass  # a multipart form already parsed: the CSRF check reads it; the API then refuses it (415)
        if check_csrf(request):
            raise Problem(403, _("a request made with the browser's session needs its CSRF token: send the "
                                 "csrftoken cookie's value in an X-CSRFToken header (scripts: use an access token)"))
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request, key):
        if key is None or not request.user.is_authenticated:
            return None
        return request.user


READ = [TokenAuth(), SessionAuth()]
ACTS = [TokenAuth(acts=True), SessionAuth()]
