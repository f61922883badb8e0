"""Bearer-token authentication of the API: the token's user becomes the request's user, within its scope."""

from __future__ import annotations

from ninja.security import HttpBearer

from kubenode import access

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
        tokens.count_request(found)
        if self.acts:
            access.require_token_may_act(found)
        return found


READ = TokenAuth()
ACTS = TokenAuth(acts=True)
