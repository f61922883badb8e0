"""Process-level endpoints: liveness and readiness probes."""

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from kubenode import runtime
from kubenode.dbcheck import database_check


@never_cache
@login_not_required
def healthz(request):
    """Liveness: the process answers (no dependency is checked: a database outage must not restart pods)."""
    return JsonResponse({"status": "ok"})


def _database() -> dict:
    """SELECT 1 on a fresh connection, answered within 2 s even when the database hangs (kubenode.dbcheck)."""
    from django.conf import settings

    return database_check(name=f"kubenode-readyz:{settings.CONFIG.replica_id}")


def _notifier() -> dict:
    """The notifier's own account of itself; degraded (fallback to polling) is still ready."""
    try:
        from progress.notify import get_notifier

        return dict(get_notifier().status())
    except Exception as exc:  # noqa: BLE001 - reported, never fatal for readiness
        return {"healthy": False, "error": f"{exc.__class__.__name__}: {exc}"}


@never_cache
@login_not_required
def readyz(request):
    """Readiness: 503 while shutting down or while the database does not answer; otherwise 200.

    The notifier's status is included as "notifier"; a notifier that fell back to polling makes the
    replica "degraded", not unready: batches and pages still work, progress arrives by polling.
    """
    if runtime.shutting_down():
        return JsonResponse({"status": "shutting down", "checks": {}}, status=503)
    database = _database()
    notifier = _notifier()
    if not database["ok"]:
        status, code = "unavailable", 503
    elif notifier.get("fallback") or notifier.get("healthy") is False:
        status, code = "degraded", 200
    else:
        status, code = "ok", 200
    return JsonResponse({"status": status, "checks": {"database": database}, "notifier": notifier}, status=code)


def bad_request(request, exception=None):
    """400 for requests Django refuses before any view: the page says which limit was passed."""
    from django.conf import settings
    from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent

    from kubenode.middleware import bad_input

    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        message = _("The request is larger than the limit of %(mb)s MB (%(bytes)s bytes). Select fewer nodes, or "
                    "use node_batch with a label selector.") % {
                        "mb": number_format(limit / 1_000_000, decimal_pos=1), "bytes": number_format(limit)}
    elif isinstance(exception, TooManyFieldsSent):
        message = _("The request has more than %(count)s fields. Select fewer nodes, or select all matching nodes "
                    "with a filter.") % {"count": number_format(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS)}
    elif isinstance(exception, TooManyFilesSent):
        message = _("The request has more than %(count)s files.") % {
            "count": f"{settings.DATA_UPLOAD_MAX_NUMBER_FILES:,}"}
    else:
        message = _("The request could not be understood.")
    return bad_input(request, message)


@login_not_required
def set_language(request):
    """Django's set_language (the language cookie, back to `next`), and for a signed-in user the choice is
    remembered (kubenode.models.Preference), so it follows them to another browser."""
    from django.views.i18n import set_language as django_set_language

    from kubenode.locale import offered, remember

    response = django_set_language(request)
    language = request.POST.get("language") if request.method == "POST" else None
    if offered(language):
        remember(request.user, language=language)
    return response
