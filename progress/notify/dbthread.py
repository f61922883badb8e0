"""Database reads of the delivery path on a thread of their own, off Django's one "sync" thread.

Under daphne every sync view and every `database_sync_to_async` call share one thread. Delivery reads (a
WebSocket's rows past its cursor, the listener's table polls) run here instead: they never wait behind an HTTP
view, and a read stuck on a hung database never blocks /healthz, /metrics or the pages.

By default connections are checked before and closed after each read (returned to the pool), as Channels does.
`keep_connection=True` (the WebSocket reader, on every doorbell that does not carry its rows) keeps the thread's
connection between reads: no pool checkout per read. It is replaced after KEEP_MAX_S, and a read that fails on a
broken connection (database restarted, connection cut) is retried once on a fresh one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections, connection

log = logging.getLogger("kubenode.progress.notify")

KEEP_MAX_S = 300.0


class DbThread:
    def __init__(self, name: str, keep_connection: bool = False):
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.keep_connection = keep_connection
        self._opened_at = 0.0

    async def run(self, fn, *args):
        call = self._call_keeping if self.keep_connection else _call
        return await asyncio.get_running_loop().run_in_executor(self.executor, call, fn, args)

    def _call_keeping(self, fn, args):
        now = time.monotonic()
        if connection.connection is not None and now - self._opened_at > KEEP_MAX_S:
            _close()
        if connection.connection is None:
            self._opened_at = now
        try:
            return fn(*args)
        except (OperationalError, InterfaceError):
            _close()  # a broken connection: once more on a fresh one
            self._opened_at = time.monotonic()
            try:
                return fn(*args)
            except DatabaseError:
                _close()
                raise
        except DatabaseError:
            _close()
            raise


def _close() -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - closing a broken connection
        log.debug("closing the reader's connection failed", exc_info=True)


def _call(fn, args):
    close_old_connections()
    try:
        return fn(*args)
    finally:
        close_old_connections()
