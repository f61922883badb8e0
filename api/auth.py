"""Bearer-token authentication of the API: the token's user becomes the request's user, within its scope."""

from __future__ import annotations

from django.utils import translation
from ninja.security import HttpBearer

from kubenode import access, locale

from . import tokens


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


READ = TokenAuth()
ACTS = TokenAuth(acts=True)
