"""Process-level endpoints: liveness and readiness probes."""

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from kubenode import runtime


@never_cache
@login_not_required
def healthz(request):
    """Liveness: the process answers (no dependency is checked: a database outage must not restart pods)."""
    return JsonResponse({"status": "ok"})


DATABASE_CHECK_TIMEOUT_S = 2.0


def _database() -> dict:
    """SELECT 1, answered within a probe's timeout: with the connection pool, a connection is awaited at most
    DATABASE_CHECK_TIMEOUT_S (not the pool's 30 s), so an unreachable database is reported, not waited for."""
    try:
        pool = getattr(connection, "pool", None) if connection.vendor == "postgresql" else None
        if pool is not None:
            pool.open()  # what Django does before its first getconn (a no-op once open)
            with pool.connection(timeout=DATABASE_CHECK_TIMEOUT_S) as conn:
                conn.execute("SELECT 1")
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return {"ok": False, "error": f"{exc.__class__.__name__}: {' '.join(str(exc).split())[:200]}"}


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
