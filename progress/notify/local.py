"""Hand a doorbell to this process's Channels group of the user, from any thread.

The in-memory channel layer is not thread-safe: when the process serves an event loop (daphne),
the group_send is handed to that loop with run_coroutine_threadsafe. In a process with no serving
loop (a management command), it runs on a private loop of the calling thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from channels.layers import get_channel_layer

from . import hub
from .base import Doorbell, user_group

log = logging.getLogger("kubenode.progress.notify")

_serving_loop: asyncio.AbstractEventLoop | None = None
_private_lock = threading.Lock()


def remember_serving_loop(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Record the event loop this process serves on (call from inside that loop)."""
    global _serving_loop
    _serving_loop = loop or asyncio.get_running_loop()


def serving_loop() -> asyncio.AbstractEventLoop | None:
    loop = _serving_loop
    if loop is not None and loop.is_running() and not loop.is_closed():
        return loop
    return None


async def _deliver(layer, group: str, message: dict) -> None:
    """This process's WebSocket connections of the group directly (hub), then the layer's members of the group:
    a command following a task in this process (progress.follow) or, with the shared layer, every web process."""
    await hub.ring(group, message)
    await layer.group_send(group, message)


def forward(doorbell: Doorbell) -> None:
    """Send the doorbell's group message to the user's group, thread-safely."""
    layer = get_channel_layer()
    if layer is None:
        return
    group, message = user_group(doorbell.user), doorbell.group_message()
    send = _deliver
    loop = serving_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop is not None:
        if running is loop:
            loop.create_task(send(layer, group, message))
        else:
            asyncio.run_coroutine_threadsafe(send(layer, group, message), loop)
    elif running is None:
        with _private_lock:
            asyncio.run(send(layer, group, message))
    else:
        running.create_task(send(layer, group, message))
    log.debug("doorbell forwarded task=%s seq=%s replica=%s", doorbell.task, doorbell.seq, doorbell.replica)
