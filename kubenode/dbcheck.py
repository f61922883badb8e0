"""Does the database answer? For readiness probes: an answer within a deadline, even when the database hangs.

A database behind a dead route or a frozen proxy accepts nothing and refuses nothing; a query on a connection
to it waits until TCP keepalives give up (about 25 s). A probe must answer within its own timeout, so the check
runs `SELECT 1` on a fresh connection (Django's own connection parameters, its own name in pg_stat_activity,
a connect timeout) in a helper thread and waits for it at most `timeout` seconds. Only one check runs at a time:
while one still waits on a hung database, later probes report that at once instead of piling up threads and
connections.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.db import connection

TIMEOUT_S = 2.0
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kubenode-dbcheck")
_lock = threading.Lock()
_inflight: Future | None = None


def _error(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {' '.join(str(exc).split())[:200]}"


def _select_one(timeout: float, name: str) -> dict:
    try:
        if connection.vendor != "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return {"ok": True}
        import psycopg

        params = dict(connection.get_connection_params())
        for key in ("cursor_factory", "pool", "context", "prepare_threshold"):
            params.pop(key, None)
        params.update(KEEPALIVES, connect_timeout=max(1, int(timeout)), application_name=name[:63])
        with psycopg.connect(**params, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return {"ok": False, "error": _error(exc)}
    finally:
        if connection.vendor != "postgresql":
            connection.close()


def database_check(timeout: float = TIMEOUT_S, name: str = "kubenode-readyz") -> dict:
    """{"ok": True} when SELECT 1 answered within `timeout` s; else {"ok": False, "error": why}."""
    global _inflight
    with _lock:
        if _inflight is None or _inflight.done():
            _inflight = _executor.submit(_select_one, timeout, name)
        future = _inflight
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        return {"ok": False, "error": f"the database did not answer within {timeout:g} s (a check is still waiting)"}
