"""Live node pages over the WebSocket `/ws/progress/`: a page subscribes to its cluster's shared watch.

Client frames:
  {"type": "nodes.watch", "cluster": NAME, "version": N, "names": [names on the page], "filter": {q, selector,
   status, role, taint}, "language": the page's language (the cells' words)}   -- a node list
  {"type": "nodes.watch", "cluster": NAME, "node": NAME, "version": N}   -- a node's detail page
  {"type": "nodes.unwatch", "cluster": NAME[, "node": NAME]}
Server frames:
  {"type": "nodes.state", "cluster", "state": live|reconnecting|starting, "error", "version"}
  {"type": "nodes.rows", "cluster", "version", "rows": {name: {column: html}}, "left": [names on the page that
   no longer match], "gone": [names on the page that were deleted], "entered": N (nodes now matching that the page
   does not show), "counts": {total, Ready, NotReady, Unknown, cordoned}}  -- a node list
  {"type": "nodes.node", "cluster", "node", "version", "deleted": bool}  -- a detail page's node changed
  {"type": "nodes.resync", "cluster"[, "node"]}  -- the page may have missed changes: read it again
  {"type": "nodes.error", "error"}
Each connection holds at most MAX_SUBSCRIPTIONS; the watch itself is shared by the whole process.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.utils import translation

from . import display, selectors, watch
from .models import Cluster

log = logging.getLogger("kubenode.nodes.live")

MAX_SUBSCRIPTIONS = 8
MAX_NAMES = 1000
FILTER_KEYS = ("q", "selector", "status", "role", "taint")


@database_sync_to_async
def _cluster(name: str):
    return Cluster.objects.filter(name=name).first()


def _start_watch(cluster) -> watch.ClusterWatch:
    return watch.ensure(cluster, selectors.node_info)


class _Cells:
    """The cells of the nodes of one batch, made once for every subscriber of the process."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_batch: dict[int, tuple[watch.Batch, dict]] = {}

    def of(self, cluster, batch: watch.Batch, info, language: str | None = None) -> dict:
        with self.lock:
            entry = self.by_batch.get(id(batch))
            if entry is None or entry[0] is not batch:
                if len(self.by_batch) > 64:
                    self.by_batch.clear()
                entry = self.by_batch[id(batch)] = (batch, {})
            memo = entry[1]
        cells = memo.get((language, info.name))
        if cells is None:
            with translation.override(language):
                cells = memo[(language, info.name)] = display.cells(selectors.with_known_load(cluster, info))
        return cells


_cells = _Cells()


class Subscription:
    def __init__(self, consumer, cluster, node: str, names: set, keep, loop):
        self.consumer = consumer
        self.cluster = cluster
        self.node = node
        self.names = names
        self.keep = keep
        self.loop = loop
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task = loop.create_task(self._send())
        self.watch = None
        self.token = None
        self.last_counts = None
        self.last_state = None
        self.language = None  # the page's language (an offered one), None: the default

    def on_batch(self, batch: watch.Batch) -> None:  # the watch's thread
        self.loop.call_soon_threadsafe(self.queue.put_nowait, batch)

    def close(self) -> None:
        if self.watch is not None and self.token is not None:
            self.watch.unsubscribe(self.token)
        self.task.cancel()

    async def _send(self):
        while True:
            batch = await self.queue.get()
            try:
                frame = self.frame(batch)
                if frame is not None:
                    await self.consumer.send_json(frame)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad batch must not end the subscription
                log.exception("live node frame for cluster %s", self.cluster.name)

    def frame(self, batch: watch.Batch) -> dict | None:
        state_changed = (batch.state, batch.error) != self.last_state
        self.last_state = (batch.state, batch.error)
        if self.node:
            if batch.resync:
                return {"type": "nodes.resync", "cluster": self.cluster.name, "node": self.node}
            if self.node in batch.changed:
                return {"type": "nodes.node", "cluster": self.cluster.name, "node": self.node,
                        "version": batch.version, "deleted": batch.changed[self.node] is None, "state": batch.state}
            if state_changed:
                return self._state(batch)
            return None
        if batch.resync:
            return {"type": "nodes.resync", "cluster": self.cluster.name}
        rows, left, gone, entered = {}, [], [], 0
        for name, info in batch.changed.items():
            shown = name in self.names
            if info is None:
                if shown:
                    gone.append(name)
                continue
            if self.keep(info):
                if shown:
                    rows[name] = {"cells": _cells.of(self.cluster, batch, info, self.language), "status": info.status,
                                  "schedulable": info.schedulable}
                else:
                    entered += 1
            elif shown:
                left.append(name)
        counts_changed = batch.counts != self.last_counts
        self.last_counts = batch.counts
        if not (rows or left or gone or entered or counts_changed or state_changed):
            return None
        return {"type": "nodes.rows", "cluster": self.cluster.name, "version": batch.version, "rows": rows,
                "left": left, "gone": gone, "entered": entered, "counts": batch.counts, "state": batch.state,
                "error": batch.error}

    def _state(self, batch) -> dict:
        return {"type": "nodes.state", "cluster": self.cluster.name, "state": batch.state, "error": batch.error,
                "version": batch.version}


async def handle(consumer, content: dict) -> None:
    """A `nodes.*` frame from the page."""
    subs = consumer.node_subscriptions
    kind = content.get("type")
    name = content.get("cluster")
    node = content.get("node") or ""
    if not isinstance(name, str) or not name or not isinstance(node, str):
        await consumer.send_json({"type": "nodes.error", "error": "cluster (and node) must be names"})
        return
    key = (name, node)
    if kind == "nodes.unwatch":
        old = subs.pop(key, None)
        if old is not None:
            old.close()
        return
    if kind != "nodes.watch":
        await consumer.send_json({"type": "nodes.error", "error": f"unknown frame type {kind!r}"})
        return
    names = content.get("names") or []
    raw_filter = content.get("filter") or {}
    version = content.get("version")
    if not isinstance(names, list) or len(names) > MAX_NAMES or not all(isinstance(n, str) for n in names) \
            or not isinstance(raw_filter, dict) or not isinstance(version, int | None):
        await consumer.send_json({"type": "nodes.error", "error": "names must be a list of at most "
                                  f"{MAX_NAMES} node names, filter an object, version a number"})
        return
    if key not in subs and len(subs) >= MAX_SUBSCRIPTIONS:
        await consumer.send_json({"type": "nodes.error", "error": "too many live pages on one connection"})
        return
    try:
        keep = selectors.node_filter(**{k: str(raw_filter.get(k) or "") for k in FILTER_KEYS})
    except ValidationError as exc:
        await consumer.send_json({"type": "nodes.error", "error": "; ".join(exc.messages)})
        return
    cluster = await _cluster(name)
    if cluster is None:
        await consumer.send_json({"type": "nodes.error", "error": f"no cluster {name}"})
        return
    old = subs.pop(key, None)
    if old is not None:
        old.close()
    sub = Subscription(consumer, cluster, node, set(names), keep, asyncio.get_running_loop())
    from kubenode.locale import offered

    sub.language = offered(content.get("language")) if isinstance(content.get("language"), str) else None
    w = await asyncio.to_thread(_start_watch, cluster)
    sub.watch = w
    sub.token = w.subscribe(sub.on_batch)
    subs[key] = sub
    sub.last_state = (w.state, w.error)
    await consumer.send_json({"type": "nodes.state", "cluster": name, "state": w.state, "error": w.error,
                              "version": w.version})
    if version is not None and w.synced.is_set() and version != w.version:
        # the page was made before changes this watch has already applied: it reads itself again once
        await consumer.send_json({"type": "nodes.resync", "cluster": name, **({"node": node} if node else {})})


def drop_all(consumer) -> None:
    for sub in getattr(consumer, "node_subscriptions", {}).values():
        sub.close()
    getattr(consumer, "node_subscriptions", {}).clear()
