"""The process-wide notifier: `get_notifier()` chooses the backend by settings.CONFIG.notify_type.

memory (one process), postgres (LISTEN/NOTIFY), redis (channels-redis), polling (the table on a timer).
Every web process runs a listener for it (`start_listener_when_serving`, called by kubenode.asgi under daphne),
unless progress.listener=standalone: then `progress_listen` processes run it and feed the shared layer (layer.py).
"""

from __future__ import annotations

import logging
import sys
import threading

from django.conf import settings

log = logging.getLogger("kubenode.progress.notify")

_lock = threading.Lock()
_notifier = None


def build_notifier(requested: str):
    """The notifier of type `requested` (imported on demand: only the chosen backend's libraries load)."""
    if requested == "postgres":
        from .postgres import PostgresNotifier as cls
    elif requested == "redis":
        from .redis import RedisNotifier as cls
    elif requested == "polling":
        from .polling import PollingNotifier as cls
    elif requested == "memory":
        from .memory import MemoryNotifier as cls
    else:
        raise ValueError(f"unknown notifier type {requested!r}; one of: memory, postgres, redis, polling")
    return cls()


def get_notifier():
    global _notifier
    with _lock:
        if _notifier is None:
            _notifier = build_notifier(str(getattr(settings.CONFIG, "notify_type", "memory") or "memory"))
        return _notifier


def reset_notifier() -> None:
    """Forget the process-wide notifier (tests, reconfiguration); its listener is stopped."""
    global _notifier
    with _lock:
        notifier, _notifier = _notifier, None
    if notifier is not None:
        notifier.close()


def start_listener_when_serving() -> bool:
    """Under daphne (Twisted's asyncio reactor), start this process's listener as soon as the server runs."""
    if "twisted.internet.reactor" not in sys.modules:
        return False
    from twisted.internet import reactor

    loop = getattr(reactor, "_asyncioEventloop", None)
    if loop is None:
        return False

    def start():
        from .local import remember_serving_loop

        remember_serving_loop(loop)
        if settings.CONFIG["progress.listener"] == "standalone":
            get_notifier().watch_standalone()  # doorbells come from progress_listen through the shared layer
        else:
            get_notifier().start()

    loop.call_soon_threadsafe(start)
    return True
