"""Database reads of the delivery path on a thread of their own, off Django's one "sync" thread.

Under daphne every sync view and every `database_sync_to_async` call share one thread. Delivery reads (a
WebSocket's rows past its cursor, the listener's table polls) run here instead: they never wait behind an HTTP
view, and a read stuck on a hung database never blocks /healthz, /metrics or the pages. Connections are checked
before and closed after each read (returned to the pool), as Channels does.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections


class DbThread:
    def __init__(self, name: str):
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, _call, fn, args)


def _call(fn, args):
    close_old_connections()
    try:
        return fn(*args)
    finally:
        close_old_connections()
