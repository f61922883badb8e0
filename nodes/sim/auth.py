"""Bearer-token authentication and a two-role authorization: admin may do everything, viewer only read."""

import secrets

from .errors import ApiError

READ_VERBS = ("get", "list", "watch")


class Tokens:
    def __init__(self, admin: str | None = None, viewer: str | None = None):
        self.admin = admin or "admin-" + secrets.token_hex(16)
        self.viewer = viewer or "viewer-" + secrets.token_hex(16)

    def user(self, authorization: str | None) -> str:
        """The user name of the request; raises 401 for a missing or unknown token."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() == "bearer":
            token = token.strip()
            if secrets.compare_digest(token, self.admin):
                return "admin"
            if secrets.compare_digest(token, self.viewer):
                return "viewer"
        raise ApiError(401, "Unauthorized", reason="Unauthorized")


def authorize(user: str, verb: str, resource: str, name: str, namespace: str | None, group: str):
    if user == "admin" or verb in READ_VERBS:
        return
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    plural = resource.split("/")[0]
    what = f"{plural}.{group}" if group else plural
    subject = f'{what} "{name}" is forbidden' if name else f"{what} is forbidden"
    raise ApiError(403, f'{subject}: User "{user}" cannot {verb} resource "{resource}" in API group "{group}" {where}',
                   reason="Forbidden", details={"name": name, "kind": plural, **({"group": group} if group else {})})
