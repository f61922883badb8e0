"""Errors of the API as RFC 9457 problem documents (application/problem+json), with the pages' messages.

{"type": "about:blank", "title": the HTTP reason, "status": code, "detail": the message a page would show,
"instance": the request path} and, for bad input, "errors": [{"field": name or null, "message": text}].

`title`, `detail` and the messages are in the request's language (api.urls: Accept-Language, else the user's
saved language); `type`, `status`, `instance` and field names stay as they are. Kubernetes' own messages stay in
their words inside a translated sentence.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.http.request import RawPostDataException
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from kubenode.locale import joined, labelled
from nodes.kube.errors import KubeError

from .tokens import RateLimited

CONTENT_TYPE = "application/problem+json"
log = logging.getLogger(__name__)

# The titles of the statuses the API answers with (RFC 9457: a short human-readable summary of the problem type)
TITLES = {
    400: gettext_lazy("Bad Request"), 401: gettext_lazy("Unauthorized"), 403: gettext_lazy("Forbidden"),
    404: gettext_lazy("Not Found"), 405: gettext_lazy("Method Not Allowed"), 409: gettext_lazy("Conflict"),
    422: gettext_lazy("Unprocessable Content"), 429: gettext_lazy("Too Many Requests"),
    500: gettext_lazy("Internal Server Error"), 502: gettext_lazy("Bad Gateway"),
    503: gettext_lazy("Service Unavailable"),
}


def title(status: int) -> str:
    return str(TITLES.get(status) or HTTPStatus(status).phrase)




class Problem(Exception):
    """An API error with its status and message (and, for bad input, the message of each field)."""

    def __init__(self, status: int, detail: str, errors: list[dict] | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.detail, self.errors, self.headers = status, detail, errors, headers or {}


def problem_response(request, status: int, detail: str, errors: list[dict] | None = None,
                     headers: dict | None = None) -> HttpResponse:
    body = {"type": "about:blank", "title": title(status), "status": status, "detail": str(detail),
            "instance": request.path}
    if errors:
        body["errors"] = errors
    response = HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def form_problem(form) -> Problem:
    """A bound form's errors, each prefixed by its field's label as the pages show them."""
    errors, lines = [], []
    for name, messages in form.errors.items():
        field = form.fields.get(name)
        label = str(field.label) if field is not None and field.label else ""
        for text in messages:
            errors.append({"field": None if name == "__all__" else name, "message": text})
            lines.append(labelled(label, text) if label and not text.startswith(label) else text)
    return Problem(400, joined(lines), errors)


def _validation(request, exc: ValidationError):
    messages = exc.messages
    return problem_response(request, 400, joined(messages), [{"field": None, "message": m} for m in messages])


# The schema's messages (pydantic's, in English) for the commonest kinds of bad input, in the request's language;
# any other keeps pydantic's words
SCHEMA_MESSAGES = {
    "missing": gettext_lazy("required"),
    "string_type": gettext_lazy("must be a string"),
    "int_type": gettext_lazy("must be an integer"),
    "int_parsing": gettext_lazy("must be an integer"),
    "bool_type": gettext_lazy("must be true or false"),
    "bool_parsing": gettext_lazy("must be true or false"),
    "list_type": gettext_lazy("must be a list"),
    "dict_type": gettext_lazy("must be an object"),
    "model_type": gettext_lazy("must be an object"),
    "json_invalid": gettext_lazy("is not valid JSON"),
}


def _schema_message(error: dict) -> str:
    if error.get("type") == "literal_error" and (error.get("ctx") or {}).get("expected"):
        return _("must be one of: %(choices)s") % {"choices": error["ctx"]["expected"]}
    known = SCHEMA_MESSAGES.get(error.get("type", ""))
    return str(known) if known is not None else error.get("msg", "invalid")


def _schema(request, exc: NinjaValidationError):
    errors = []
    for error in exc.errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "payload")]
        errors.append({"field": ".".join(loc) or None, "message": _schema_message(error)})
    # the schema's own messages (pydantic's, in English) inside a sentence of the request's language
    detail = joined(labelled(e["field"], e["message"]) if e["field"] else e["message"] for e in errors)
    return problem_response(request, 400, _("the request is not valid: %(errors)s") % {"errors": detail}
                            if detail else _("the request is not valid"), errors)


def _unexpected(request, exc: Exception):
    log.exception("API error on %s %s", request.method, request.path)
    return problem_response(request, 500, _("the server failed to answer this request; it is logged"))


def _kube(request, exc: KubeError):
    """Kubernetes' own message, in its words, inside a sentence of the request's language (a node that does not
    exist is said in kubenode's words, already translated)."""
    from nodes.selectors import NodeNotFound

    detail = str(exc) if isinstance(exc, NodeNotFound) else _("Kubernetes API: %(error)s") % {"error": exc}
    return problem_response(request, 404 if getattr(exc, "status", 0) == 404 else 502, detail)


def install(api) -> None:
    """Every error of `api` answered as a problem document."""
    api.add_exception_handler(Problem, lambda r, e: problem_response(r, e.status, e.detail, e.errors, e.headers))
    api.add_exception_handler(ValidationError, _validation)
    api.add_exception_handler(NinjaValidationError, _schema)
    api.add_exception_handler(PermissionDenied, lambda r, e: problem_response(
        r, 403, str(e) or _("you may not do this")))
    api.add_exception_handler(Http404, lambda r, e: problem_response(r, 404, str(e) or _("not found")))
    api.add_exception_handler(AuthenticationError, lambda r, e: problem_response(
        r, 401, _("sign in, or send an access token: 'Authorization: Bearer <token>' (a token that is "
                  "unknown, revoked or expired is refused)"), headers={"WWW-Authenticate": 'Bearer realm="kubenode"'}))
    api.add_exception_handler(RateLimited, lambda r, e: problem_response(
        r, 429, str(e), headers={"Retry-After": str(e.retry_after)}))
    api.add_exception_handler(KubeError, _kube)
    api.add_exception_handler(RawPostDataException, lambda r, e: problem_response(
        r, 415, _("the API takes a JSON body (Content-Type: application/json), not a form")))
    api.add_exception_handler(Exception, _unexpected)
    api.add_exception_handler(HttpError, lambda r, e: problem_response(r, e.status_code, str(e)))
