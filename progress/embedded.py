"""Which processes run tasks: the embedded default (SQLite) or separate workers (any other database).

On SQLite the web process is the only process (the demo needs nothing more): it runs the worker loop itself, as
threads, with the very claiming code of ``progress_worker``. On PostgreSQL a web process never runs tasks; the
``progress_worker`` processes do. `start_when_serving` (called by kubenode.asgi under daphne) says which mode runs.
"""

from __future__ import annotations

import logging
import sys
import threading

from django.conf import settings

from kubenode import runtime

from .worker import Worker

log = logging.getLogger("kubenode.progress.worker")

_worker: Worker | None = None
_lock = threading.Lock()


def embedded() -> bool:
    """True when this database means one process: the web runs the worker loop (SQLite)."""
    return settings.CONFIG.database_type == "sqlite"


def mode_line() -> str:
    if embedded():
        return ("mode: embedded (SQLite): this process serves the pages and runs the batches with its own worker "
                "threads; run no other process against this database")
    return (f"mode: web ({settings.CONFIG.database_type}): this process serves pages and WebSockets and never runs "
            f"batches; run python manage.py progress_worker (one or more) for them")


def start_when_serving() -> Worker | None:
    """Under daphne: log the mode; on SQLite start this process's worker threads."""
    if "twisted.internet.reactor" not in sys.modules:
        return None
    log.info(mode_line(), extra={"event": "mode", "mode": "embedded" if embedded() else "web"})
    if not embedded():
        runtime.set_role("web")
        return None
    runtime.set_role("embedded")
    return start()


def start() -> Worker:
    global _worker
    with _lock:
        if _worker is None:
            _worker = Worker(role="embedded").start()
        return _worker


def stop(grace: float) -> bool:
    """Stop this process's worker threads (graceful shutdown); unfinished work stays queued for the next start."""
    global _worker
    with _lock:
        worker, _worker = _worker, None
    if worker is None:
        return True
    return worker.shutdown(grace)


def running() -> Worker | None:
    return _worker
