"""Doorbells to this process's WebSocket connections without a trip through the channel layer.

With the embedded listener (the in-memory layer) every connection of a user used to get the doorbell as a layer
message: a queue entry per connection, a receive task per connection, Channels' dispatch per connection. Here the
connections of this process register by group; a doorbell is handled for each in turn, in one coroutine: the first
does the shared read (one query, one JSON text), the others find it done and only write that text to their socket.
Connections of the standalone mode sit on the shared Redis layer and never register here.
"""

from __future__ import annotations

import logging

from kubenode import metrics

log = logging.getLogger("kubenode.progress.ws")

_members: dict[str, set] = {}
_waiting = 0  # doorbells waiting for a connection busy with another handler (the delivery backlog)


def waiting(delta: int) -> None:
    global _waiting
    _waiting += delta


metrics.add_backlog_source(lambda: _waiting)


def join(group: str, connection) -> None:
    _members.setdefault(group, set()).add(connection)


def leave(group: str, connection) -> None:
    members = _members.get(group)
    if members is not None:
        members.discard(connection)
        if not members:
            _members.pop(group, None)


def members(group: str) -> int:
    return len(_members.get(group, ()))


async def ring(group: str, message: dict) -> None:
    """Hand the doorbell to every registered connection of the group, one after the other."""
    for connection in list(_members.get(group, ())):
        try:
            await connection.hub_doorbell(message)
        except Exception:  # noqa: BLE001 - one broken connection must not keep the others from their frames
            log.exception("delivering a doorbell to a WebSocket failed task=%s", message.get("task"))
