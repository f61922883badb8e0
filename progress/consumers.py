"""WebSocket `/ws/progress/`: snapshot on connect, resume after a seq, live rows on doorbells.

Client frames: {"type": "resume", "task": ID, "after_seq": N}.
Server frames: {"type": "snapshot", "tasks": [task state, ...]};
a list of messages, one task's consecutive messages in seq order (the rows one doorbell announced, a page of a
resume): [{"task", "seq", "type" (progress/complete/error/cancelled/interrupted), "total", "done", "succeeded",
"failed", "node", "outcome", "error"[, "detail"]}, ...]; {"type": "protocol_error", "error": text} for frames
the server cannot accept (the connection stays open).
Per connection, each task has a cursor (the last seq sent): no seq is ever sent twice.
Fan-out: a doorbell that carries its messages (they fit the NOTIFY payload) is sent as it came, serialized once
per process, to every connection whose cursor it continues; the others, and doorbells without messages, read
the table from their cursor: the connections woken by one doorbell at the same cursor share one read and one
serialized frame; each connection only writes that text to its socket.
Tasks in the snapshot go live from their last_seq at connect (the snapshot carries their counters); a resume asks for
what came before, and gets exactly the part this connection has not sent. Tasks created later go live from seq 1.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import InMemoryChannelLayer
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from kubenode import locale, metrics

from . import selectors, ws_security
from .notify import hub
from .notify.base import user_group
from .notify.dbthread import DbThread
from .notify.memory import remember_serving_loop

log = logging.getLogger("kubenode.progress.ws")

GROUP_RENEW_S = 3600.0
SHARED_READ_KEEP_S = 2.0
MAX_FRAME_CHARS = 65536  # a client frame is a small JSON object
MAX_FRAME_DEPTH = 8
REVOKED = _("signed out or the account changed")


class FrameTooDeep(ValueError):
    """A client frame nested deeper than any frame of the protocol."""


def _depth(value, level: int = 0) -> int:
    """How deeply `value` nests (stops counting past MAX_FRAME_DEPTH)."""
    if level > MAX_FRAME_DEPTH or not isinstance(value, (dict, list)):
        return level
    items = value.values() if isinstance(value, dict) else value
    return max((_depth(v, level + 1) for v in items), default=level + 1)


@database_sync_to_async
def _snapshot(user):
    return selectors.snapshot(user)


def _identity_and_language(user, scope):
    """What the socket checks its user against, and the language its messages speak."""
    return ws_security.fingerprint(user), locale.socket_language(scope, user)


@database_sync_to_async
def _task_owner(user, task_id):
    return selectors.get_task_for(user, task_id).user_id


@dataclass(frozen=True)
class Page:
    """Consecutive messages of one task, read once, and the frame that carries them, serialized once."""

    frames: list[dict]
    text: str

    @property
    def last_seq(self) -> int:
        return self.frames[-1]["seq"] if self.frames else 0


def encode(frames: list[dict]) -> str:
    return json.dumps(frames, separators=(",", ":"))


def _read_page(task_id, after_seq, up_to=None) -> Page:
    frames = selectors.messages_after(task_id, after_seq, up_to=up_to)
    return Page(frames, encode(frames) if frames else "")


_reader = DbThread("kubenode-ws-reader", keep_connection=True)


async def _messages_after(task_id, after_seq, up_to=None) -> Page:
    return await _reader.run(_read_page, task_id, after_seq, up_to)


_shared_reads: dict[tuple, asyncio.Future] = {}


async def _shared_messages_after(task_id, after_seq, rung_seq) -> Page:
    """One query and one serialized frame for all consumers of this process woken by the same doorbell at the
    same cursor.

    The query starts after that doorbell arrived here, so it sees every row up to `rung_seq`; sharing it keeps a
    doorbell from costing one query and one JSON encoding per connected client.
    """
    key = (task_id, after_seq, rung_seq)
    future = _shared_reads.get(key)
    if future is None:
        future = asyncio.ensure_future(_messages_after(task_id, after_seq))
        _shared_reads[key] = future
        # kept a moment after it is done, for the connections whose turn comes later: the page was read after the
        # doorbell arrived, so it holds every message up to rung_seq whenever it is used
        loop = asyncio.get_running_loop()
        future.add_done_callback(lambda _f: loop.call_later(SHARED_READ_KEEP_S, _shared_reads.pop, key, None))
    return await asyncio.shield(future)


_carried_texts: OrderedDict[tuple, str] = OrderedDict()
CARRIED_TEXTS_KEPT = 256


def _carried_text(task_id: str, first: int, messages: list[dict]) -> str:
    """The frame of a doorbell's carried messages, serialized once per process: the hub hands one dict to every
    connection (the text is stored in it), the shared layer of the standalone mode a copy to each (this cache)."""
    key = (task_id, first, messages[-1]["seq"])
    text = _carried_texts.get(key)
    if text is None:
        text = _carried_texts[key] = encode(messages)
        if len(_carried_texts) > CARRIED_TEXTS_KEPT:
            _carried_texts.popitem(last=False)
    return text


class ProgressConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        remember_serving_loop()
        self.user = user
        session = self.scope.get("session")
        self.session_key = getattr(session, "session_key", None)
        self.identity, self.language = await database_sync_to_async(_identity_and_language)(user, self.scope)
        ws_security.register(self)
        self.cursors: dict[str, int] = {}  # last seq sent, per task
        self.floors: dict[str, int] = {}  # everything in (floor, cursor] was sent
        self.baselines: dict[str, int] = {}  # last_seq of the tasks in the snapshot
        self.groups_joined: set[str] = set()
        # one handler at a time per connection (the cursors): Channels' dispatch, and doorbells from the hub
        self.lock = asyncio.Lock()
        # the in-memory layer (embedded listener): doorbells come straight from this process's hub
        self.use_hub = isinstance(self.channel_layer, InMemoryChannelLayer)
        async with self.lock:  # a doorbell arriving meanwhile waits for the snapshot's baselines
            await self._join(user_group(user.pk))
            self.renewer = None if self.use_hub else asyncio.ensure_future(self._renew_groups())
            await self.accept()
            tasks = await _snapshot(user)
            self.baselines = {t["task"]: t["last_seq"] for t in tasks}
            await self.send_json({"type": "snapshot", "tasks": tasks})

    async def _join(self, group: str) -> None:
        self.groups_joined.add(group)
        if self.use_hub:
            hub.join(group, self)
        else:
            await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code):
        self.gone = True
        ws_security.unregister(self)
        renewer = getattr(self, "renewer", None)
        if renewer is not None:
            renewer.cancel()
        for group in getattr(self, "groups_joined", ()):
            if self.use_hub:
                hub.leave(group, self)
            else:
                await self.channel_layer.group_discard(group, self.channel_name)

    async def hub_doorbell(self, message: dict) -> None:
        """A doorbell from this process's hub: handled now, or after the handler that holds the connection."""
        if getattr(self, "gone", False):
            return
        if message.get("type") == ws_security.REVOKE_MESSAGE["type"]:
            await self.revoke(REVOKED)
            return
        if self.lock.locked():
            hub.waiting(1)
            asyncio.ensure_future(self._after_lock(message))
            return
        async with self.lock:
            await self.progress_doorbell(message)

    async def _after_lock(self, message: dict) -> None:
        counted = True
        try:
            async with self.lock:
                hub.waiting(-1)
                counted = False
                await self.progress_doorbell(message)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the next doorbell or the client's resume repairs it
            log.exception("delivering a doorbell to a WebSocket failed task=%s", message.get("task"))
        finally:
            if counted:
                hub.waiting(-1)

    async def _renew_groups(self):
        """Channel layers forget group members after their group expiry (a day): a page left open for days
        renews its membership, so it keeps receiving doorbells."""
        while True:
            await asyncio.sleep(GROUP_RENEW_S)
            for group in list(self.groups_joined):
                try:
                    await self.channel_layer.group_add(group, self.channel_name)
                except Exception:  # noqa: BLE001 - tried again at the next renewal
                    log.warning("renewing the group membership of a WebSocket failed", exc_info=True)

    async def receive_json(self, content, **kwargs):
        async with self.lock:
            await self._resume(content)

    async def _resume(self, content):
        if not isinstance(content, dict) or content.get("type") != "resume":
            await self._error(_("expected {\"type\": \"resume\", \"task\": ID, \"after_seq\": N}"))
            return
        task_id, after = content.get("task"), content.get("after_seq", 0)
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            await self._error(_("after_seq must be a non-negative integer"))
            return
        try:
            owner = await _task_owner(self.user, str(task_id))
        except PermissionDenied:
            await self._error(_("no such task"), task=str(task_id))
            return
        task_id = str(task_id)
        if owner != self.user.pk:  # staff watching another user's task
            group = user_group(owner)
            if group not in self.groups_joined:
                await self._join(group)
        if task_id not in self.cursors:
            self.cursors[task_id] = self.floors[task_id] = after
            self.baselines.pop(task_id, None)
        elif after < self.floors[task_id]:
            await self._backfill(task_id, after)
        await self._push(task_id)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if getattr(self, "gone", False) or not hasattr(self, "identity"):
            return
        if text_data is not None and len(text_data) > MAX_FRAME_CHARS:
            await self._error(_("frames must be at most %(count)s characters"), {"count": MAX_FRAME_CHARS})
            return
        if not await self._still_allowed():
            return
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except (FrameTooDeep, RecursionError):
            await self._error(_("frames must be JSON objects nested at most %(count)s levels deep"),
                              {"count": MAX_FRAME_DEPTH})
        except ValueError:
            await self._error(_("frames must be JSON text"))

    async def _still_allowed(self) -> bool:
        """The socket's user as stored now: still signed in with this session, unchanged; else the socket closes."""
        user, identity, live = await database_sync_to_async(ws_security.current_identity)(
            self.user.pk, self.session_key)
        if user is None or not live or identity != self.identity:
            await self.revoke(REVOKED)
            return False
        self.user = user
        return True

    async def auth_revoked(self, message):
        """The user signed out or was changed (a message to the user's group from ws_security.revoke_user)."""
        await self.revoke(REVOKED)

    async def revoke(self, reason) -> None:
        if getattr(self, "gone", False):
            return
        self.gone = True
        ws_security.unregister(self)
        try:
            await self.send_json({"type": "revoked", "error": await self._words(reason)})
        finally:
            await self.close(code=ws_security.REVOKED_CODE)

    @classmethod
    async def decode_json(cls, text_data):
        if text_data is None:
            raise ValueError("binary frame")
        content = await super().decode_json(text_data)
        if _depth(content) > MAX_FRAME_DEPTH:
            raise FrameTooDeep("too deep")
        return content

    async def dispatch(self, message):
        if message.get("type") == "progress.doorbell":
            # Channels runs close_old_connections (a hop to the sync thread) before every handler; this one
            # reaches the database only through its reader thread, which checks its connection itself.
            async with self.lock:
                await self.progress_doorbell(message)
            return
        await super().dispatch(message)

    async def progress_doorbell(self, event):
        if getattr(self, "gone", False):
            return
        task_id = str(event.get("task"))
        if task_id not in self.cursors:
            owner = event.get("user")  # the doorbell names the task's owner: no query per connection
            if owner is None:
                try:
                    owner = await _task_owner(self.user, task_id)
                except PermissionDenied:
                    return
            if owner != self.user.pk:
                return  # another user's task reached us through a watched group; only resumed ones
            self.cursors[task_id] = self.floors[task_id] = self.baselines.pop(task_id, 0)
        if int(event.get("seq", 0)) <= self.cursors[task_id]:
            return
        log.debug("doorbell received task=%s seq=%s replica=%s", task_id, event.get("seq"), event.get("replica"))
        sent = await self._send_carried(task_id, event)
        if not sent:
            sent = await self._push(task_id, rung_seq=int(event.get("seq", 0)))
        rung_at = float(event.get("ts") or 0)
        if sent and rung_at:
            metrics.observe_delivery_latency(time.time() - rung_at)

    async def _send_carried(self, task_id: str, event: dict) -> int:
        """The messages the doorbell carries, when they continue this connection's cursor without a gap; 0 when
        they do not (none carried, or a seq between the cursor and them is missing here): then the table is read
        from the cursor. The doorbell was rung after its rows committed, so they are the table's rows."""
        messages, first = event.get("messages"), event.get("first")
        cursor = self.cursors[task_id]
        if not messages or not isinstance(first, int) or first > cursor + 1:
            return 0
        if first == cursor + 1:
            frames, text = messages, event.get("text")
            if text is None:
                text = event["text"] = _carried_text(task_id, first, messages)
        else:
            frames = [m for m in messages if m["seq"] > cursor]
            text = encode(frames)
        if not frames:
            return 0
        self.cursors[task_id] = frames[-1]["seq"]
        await self.send(text_data=text)
        return len(frames)

    async def _push(self, task_id: str, rung_seq: int | None = None) -> int:
        """Send every message past this connection's cursor, a page (one frame) at a time; returns how many."""
        sent = 0
        while True:
            cursor = self.cursors[task_id]  # one handler runs at a time per connection: it cannot move meanwhile
            if rung_seq is not None:
                page = await _shared_messages_after(task_id, cursor, rung_seq)
                rung_seq = None  # further pages: this connection's own reads
            else:
                page = await _messages_after(task_id, cursor)
            if page.frames:
                self.cursors[task_id] = page.last_seq
                await self.send(text_data=page.text)
                sent += len(page.frames)
            if len(page.frames) < selectors.PAGE_SIZE:
                return sent

    async def _backfill(self, task_id: str, after: int) -> None:
        """Send (after, floor]: the history before what this connection has already sent."""
        floor = self.floors[task_id]
        cursor = after
        while cursor < floor:
            page = await _messages_after(task_id, cursor, floor)
            if page.frames:
                await self.send(text_data=page.text)
            if len(page.frames) < selectors.PAGE_SIZE:
                break
            cursor = page.last_seq
        self.floors[task_id] = after

    async def _error(self, text, params: dict | None = None, **extra) -> None:
        await self.send_json({"type": "protocol_error", "error": await self._words(text, params), **extra})

    async def _words(self, text, params: dict | None = None) -> str:
        """A message in the language of the socket's user (kubenode.locale.socket_language, read at connect: a
        language switch reloads the page, which opens a new socket)."""
        with translation.override(getattr(self, "language", None) or settings.PAGE_LANGUAGE_CODE):
            return str(text) % params if params else str(text)
