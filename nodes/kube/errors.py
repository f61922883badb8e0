"""Every failure of an API call as one clear line built from the server's Status message."""

import json

from kubenode import metrics

REASONS = {
    400: "bad request",
    401: "unauthorized: the cluster rejected the credentials",
    403: "forbidden",
    404: "not found",
    409: "conflict",
    410: "expired",
    415: "unsupported media type",
    422: "invalid",
    429: "too many requests",
    500: "internal server error",
    503: "service unavailable",
}


class KubeError(Exception):
    """An API call failed. `status` is the HTTP code (0 = not reachable); str() is one clear line."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "", retry_after: float | None = None,
                 body: dict | None = None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after
        self.body = body or {}

    @property
    def message(self) -> str:
        return str(self)


def one_line(text: str, limit: int = 500) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def from_response(status: int, data: bytes, headers) -> KubeError:
    body = {}
    try:
        body = json.loads(data or b"{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = body.get("message") or ""
    reason = body.get("reason") or ""
    causes = (body.get("details") or {}).get("causes") or []
    if not message and causes:
        message = "; ".join(c.get("message", "") for c in causes if isinstance(c, dict))
    if not message:
        message = (data or b"").decode("utf-8", "replace").strip()[:200] if not body else ""
    label = REASONS.get(status, "error")
    line = f"HTTP {status} {label}" + (f": {message}" if message else "")
    retry_after = None
    try:
        value = headers.get("Retry-After") if headers is not None else None
        if value is not None:
            retry_after = float(value)
    except (TypeError, ValueError):
        retry_after = None
    metrics.kube_api_error(status)
    return KubeError(one_line(line), status=status, reason=reason, retry_after=retry_after, body=body)


def from_exception(exc: Exception, server: str) -> KubeError:
    """A transport failure (refused, timeout, TLS, DNS) as one line; never the credentials."""
    from nodes.cluster_secrets import redact_text, redact_url

    text = redact_text(str(exc))
    server = redact_url(server)
    low = text.lower()
    if "refused" in low:
        why = "connection refused"
    elif "timed out" in low or "timeout" in low:
        why = "connection timed out"
    elif "name or service not known" in low or "nodename nor servname" in low or "failed to resolve" in low:
        why = "host name not found"
    elif "certificate" in low or "ssl" in low:
        why = "TLS error: " + one_line(text, 200)
    else:
        why = type(exc).__name__
    metrics.kube_api_error("unreachable")
    return KubeError(f"cannot reach the API server {server}: {why}", status=0, reason="Unreachable")
