"""Follow one task the way a browser does: doorbells from the user's group, rows from the table.

With `listen=True` the process runs its notifier's listener meanwhile (as a web process does), so doorbells rung
by workers in other processes reach it; without it (or with the memory notifier) the table is read every second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from . import selectors
from .models import MessageType
from .notify import get_notifier
from .notify.base import user_group
from .notify.memory import remember_serving_loop

FINAL_TYPES = {MessageType.COMPLETE, MessageType.ERROR, MessageType.CANCELLED, MessageType.INTERRUPTED}
SAFETY_POLL_S = 1.0


async def follow(task_id, user_id: int, on_frame: Callable[[dict], None], start: Callable[[], None] | None = None,
                 after_seq: int = 0, listen: bool = False) -> dict:
    """Deliver every message of the task once, in seq order; returns the final message frame."""
    remember_serving_loop()
    layer = get_channel_layer()
    channel = None
    notifier = None
    if layer is not None:
        channel = await layer.new_channel()
        await layer.group_add(user_group(user_id), channel)
        if listen:
            notifier = get_notifier()
            notifier.start()
    if start is not None:
        await database_sync_to_async(start)()
    cursor = after_seq
    try:
        while True:
            while True:
                frames = await database_sync_to_async(selectors.messages_after)(task_id, cursor)
                for frame in frames:
                    cursor = frame["seq"]
                    on_frame(frame)
                    if frame["type"] in FINAL_TYPES:
                        return frame
                if len(frames) < selectors.PAGE_SIZE:
                    break
            if channel is None:
                await asyncio.sleep(SAFETY_POLL_S)
                continue
            try:
                await asyncio.wait_for(layer.receive(channel), SAFETY_POLL_S)
            except TimeoutError:
                pass  # the safety poll: re-read the table
    finally:
        if channel is not None:
            await layer.group_discard(user_group(user_id), channel)
        if notifier is not None:
            await notifier.aclose()
