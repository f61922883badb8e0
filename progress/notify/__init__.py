"""The process-wide notifier: `get_notifier()` chooses the backend by settings.CONFIG.notify_type.

Backends register in `_FACTORIES` as "type" -> "module:Class"; a type whose module is not
importable falls back to the in-process memory notifier and says so in the log.
"""

from __future__ import annotations

import importlib
import logging
import threading

from django.conf import settings

log = logging.getLogger("kubenode.progress.notify")

_FACTORIES = {
    "memory": "progress.notify.memory:MemoryNotifier",
    "postgres": "progress.notify.postgres:PostgresNotifier",
    "redis": "progress.notify.redis:RedisNotifier",
    "polling": "progress.notify.polling:PollingNotifier",
}

_lock = threading.Lock()
_notifier = None


def _load(path: str):
    module_name, _, cls_name = path.partition(":")
    return getattr(importlib.import_module(module_name), cls_name)


def build_notifier(requested: str):
    """Build the notifier for `requested`; memory when that backend's module is not available."""
    path = _FACTORIES.get(requested)
    if path is None:
        log.warning("notifier: unknown type %r requested; using memory", requested)
        return _load(_FACTORIES["memory"])()
    try:
        cls = _load(path)
    except (ImportError, AttributeError) as exc:
        log.warning("notifier: requested %s, backend not available (%s); effective memory", requested, exc)
        return _load(_FACTORIES["memory"])()
    return cls()


def get_notifier():
    global _notifier
    with _lock:
        if _notifier is None:
            requested = str(getattr(settings.CONFIG, "notify_type", "memory") or "memory")
            _notifier = build_notifier(requested)
            log.info("notifier: requested %s, effective %s", requested, type(_notifier).__name__)
        return _notifier


def reset_notifier() -> None:
    """Forget the process-wide notifier (tests, reconfiguration)."""
    global _notifier
    with _lock:
        _notifier = None
