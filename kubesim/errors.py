"""Kubernetes v1 Status objects and the exception that carries one to the HTTP layer."""

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
}


def status(code: int, message: str, reason: str | None = None, details: dict | None = None) -> dict:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason if reason is not None else REASONS.get(code, ""),
        "code": code,
    }
    if details:
        body["details"] = details
    return body


class ApiError(Exception):
    """Raised anywhere in the simulator; the handler answers with its Status."""

    def __init__(self, code: int, message: str, reason: str | None = None, details: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.code = code
        self.body = status(code, message, reason, details)
        self.headers = headers or {}


def not_found(kind: str, name: str, group: str = "") -> ApiError:
    what = f"{kind}.{group}" if group else kind
    return ApiError(404, f'{what} "{name}" not found', details={"name": name, "kind": kind, **(
        {"group": group} if group else {})})


def conflict(kind: str, name: str, why: str, group: str = "") -> ApiError:
    what = f"{kind}.{group}" if group else kind
    return ApiError(409, f'Operation cannot be fulfilled on {what} "{name}": {why}',
                    details={"name": name, "kind": kind})


def invalid(kind: str, name: str, causes: list[dict], group: str = "") -> ApiError:
    """422 Invalid; causes are {"reason", "message", "field"} like the real server's."""
    text = "[" + ", ".join(f"{c['field']}: {c['message']}" for c in causes) + "]"
    if len(causes) == 1:
        text = f"{causes[0]['field']}: {causes[0]['message']}"
    what = f"{kind}.{group}" if group else kind
    return ApiError(422, f'{what} "{name}" is invalid: {text}',
                    details={"name": name, "kind": kind, "causes": causes})


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)
