"""Bearer-token authentication and a three-role authorization: admin may do everything, viewer only read, nobody
nothing (only discovery and access reviews, which every authenticated user of a real server has)."""

import secrets

from .errors import ApiError

READ_VERBS = ("get", "list", "watch")
USERS = ("admin", "viewer", "nobody")


class Tokens:
    def __init__(self, admin: str | None = None, viewer: str | None = None, nobody: str | None = None):
        self.admin = admin or "admin-" + secrets.token_hex(16)
        self.viewer = viewer or "viewer-" + secrets.token_hex(16)
        self.nobody = nobody or "nobody-" + secrets.token_hex(16)
        # the user of a request without credentials (kube_sim --plain-http: admin); None: 401
        self.anonymous: str | None = None

    def user(self, authorization: str | None) -> str:
        """The user name of the request; raises 401 for an unknown token, and for a missing one unless anonymous
        requests are allowed."""
        if not authorization and self.anonymous:
            return self.anonymous
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() == "bearer":
            token = token.strip()
            for user in USERS:
                if secrets.compare_digest(token, getattr(self, user)):
                    return user
        raise ApiError(401, "Unauthorized", reason="Unauthorized")


def request_attributes(method: str, parts: list[str], query: dict) -> tuple | None:
    """(verb, resource[/subresource], name, namespace, group) of a resource request, derived from the path alone as
    the real server's RequestInfo does: it is authorized before routing, so an unknown resource is forbidden as a
    known one is. None for other paths (discovery, /version...)."""
    if len(parts) >= 2 and parts[0] == "api":
        group, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[3:]
    else:
        return None
    watch = query.get("watch") in ("true", "1")
    if rest[:1] == ["watch"]:  # the deprecated /api/v1/watch/... form
        watch, rest = True, rest[1:]
    if not rest:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in ("status", "finalize"):
            rest = rest[2:]
    resource, name, sub = rest[0], rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else ""
    verb = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete"}.get(method, method.lower())
    if verb == "get" and not name:
        verb = "watch" if watch else "list"
    elif verb == "delete" and not name:
        verb = "deletecollection"
    return verb, f"{resource}/{sub}" if sub else resource, name, namespace, group


def authorize(user: str, verb: str, resource: str, name: str, namespace: str | None, group: str):
    if user == "admin" or (user == "viewer" and verb in READ_VERBS):
        return
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    plural = resource.split("/")[0]
    what = f"{plural}.{group}" if group else plural
    subject = f'{what} "{name}" is forbidden' if name else f"{what} is forbidden"
    details = {**({"name": name} if name else {}), **({"group": group} if group else {}), "kind": plural}
    raise ApiError(403, f'{subject}: User "{user}" cannot {verb} resource "{resource}" in API group "{group}" {where}',
                   reason="Forbidden", details=details)
