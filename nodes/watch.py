"""Live nodes: one Kubernetes watch per cluster per process, shared by every page and viewer of that cluster.

A `ClusterWatch` lists the nodes once (or is seeded with a list a page has just read), then follows
`GET /api/v1/nodes?watch=true` from that resourceVersion; each event replaces one node in its state at once, so
page reads (`nodes.selectors.cached_nodes`) see it. Changes are handed to subscribers (the WebSocket consumers of
open node pages) in batches, at most every BATCH_SECONDS, from the watch's own thread: a subscriber's callback
must only hand the batch over (e.g. `loop.call_soon_threadsafe`). 100 open node lists of one cluster in one
process cost one watch.

A stream the server ends is started again from the last resourceVersion; 410 Expired relists (the differences are
one batch); other errors are retried with backoff while the state says `reconnecting` (pages say so). A watch
that nobody subscribes to and no page has read for LINGER_SECONDS stops.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kubenode import metrics

from .kube import KubeError
from .kube import client as kube_client
from .kube.watch import WatchStream, list_with_version

log = logging.getLogger("kubenode.nodes.watch")

LINGER_SECONDS = 120.0
BATCH_SECONDS = 0.25
BACKOFF_MAX = 30.0
REAP_SECONDS = 5.0
STARTING_GRACE = 5.0
NODES_PATH = "/api/v1/nodes"

_watches: dict[tuple, ClusterWatch] = {}
_lock = threading.Lock()
_reaper: threading.Thread | None = None
_ids = itertools.count(1)


def cluster_key(cluster) -> tuple:
    return (cluster.pk, cluster.name, str(getattr(cluster, "updated_at", "")))


@dataclass
class Batch:
    """Nodes changed since the previous batch: name -> NodeInfo, or None when the node was deleted."""

    cluster: str
    version: int
    changed: dict
    state: str
    error: str = ""
    resync: bool = False  # the watch relisted: subscribers should re-read what they show
    counts: dict = field(default_factory=dict)


def status_counts(infos) -> dict:
    counts = {"total": 0, "Ready": 0, "NotReady": 0, "Unknown": 0, "cordoned": 0}
    for n in infos:
        counts["total"] += 1
        counts[n.status] = counts.get(n.status, 0) + 1
        if not n.schedulable:
            counts["cordoned"] += 1
    return counts


class ClusterWatch:
    def __init__(self, key: tuple, cluster, node_info: Callable[[dict], object]):
        self.key = key
        self.cluster = cluster
        self.name = cluster.name
        self._node_info = node_info
        self.lock = threading.Lock()
        self.nodes: dict = {}  # name -> NodeInfo (never modified once stored: readers may keep them)
        self.resource_version = ""
        self.version = 0
        self.state = "starting"  # starting | live | reconnecting | stopped
        self.error = ""
        self.synced = threading.Event()
        self.created_at = self.last_used = time.monotonic()
        self.last_activity = 0.0  # monotonic time of the last event or bookmark
        self.streams_opened = 0
        self.subscribers: dict[int, Callable[[Batch], None]] = {}
        self._dirty: dict = {}
        self._resync = False
        self._timer: threading.Timer | None = None
        self._stream: WatchStream | None = None
        self._stop = threading.Event()
        self._snapshot: tuple[int, list] | None = None
        self.thread = threading.Thread(target=self._run, name=f"node-watch-{cluster.name}", daemon=True)

    # --- reading ---------------------------------------------------------------------------------------------
    def snapshot(self) -> tuple[int, list, str]:
        """(version, every node sorted by name, list resourceVersion) — the list is shared: do not modify it."""
        with self.lock:
            self.last_used = time.monotonic()
            if self._snapshot is None or self._snapshot[0] != self.version:
                self._snapshot = (self.version, sorted(self.nodes.values(), key=lambda n: n.name))
            return self.version, self._snapshot[1], self.resource_version

    def fresh(self) -> bool:
        """Whether page reads may rely on this watch: synced, and its stream open (or about to open: seeded with
        a list just read, for STARTING_GRACE seconds)."""
        if not self.synced.is_set():
            return False
        return self.state == "live" or (self.state == "starting" and
                                        time.monotonic() - self.created_at < STARTING_GRACE)

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def idle(self, now: float) -> bool:
        return not self.subscribers and now - self.last_used > LINGER_SECONDS

    # --- subscribers -----------------------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[Batch], None]) -> int:
        token = next(_ids)
        with self.lock:
            self.subscribers[token] = callback
            self.last_used = time.monotonic()
        return token

    def unsubscribe(self, token: int) -> None:
        with self.lock:
            self.subscribers.pop(token, None)
            self.last_used = time.monotonic()

    # --- state changes ---------------------------------------------------------------------------------------
    def seed(self, infos, resource_version: str) -> None:
        """Take a list just read by a page as the state (before the watch starts from its resourceVersion)."""
        with self.lock:
            if self.synced.is_set():
                return
            self.nodes = {n.name: n for n in infos}
            self.resource_version = resource_version
            self.version += 1
            self.last_activity = time.monotonic()
            self.synced.set()

    def _replace_all(self, items: list, resource_version: str) -> None:
        infos = {n.name: n for n in (self._node_info(o) for o in items)}
        with self.lock:
            had = self.synced.is_set()
            if had:  # a relist: what changed meanwhile is one batch
                for name in self.nodes:
                    if name not in infos:
                        self._dirty[name] = None
                for name, info in infos.items():
                    old = self.nodes.get(name)
                    if old is None or old.resource_version != info.resource_version:
                        self._dirty[name] = info
            self.nodes = infos
            self.resource_version = resource_version
            self.version += 1
            self.last_activity = time.monotonic()
            self._resync = True  # pages made before this list read themselves again, once
            self.synced.set()
        self._schedule()

    def merge(self, infos, resource_version: str) -> None:
        """A list read by a page while this watch was not trusted alone: take what it has that is newer."""
        listed = {n.name: n for n in infos}
        with self.lock:
            for name, info in listed.items():
                old = self.nodes.get(name)
                if old is None or _older(old.resource_version, info.resource_version):
                    self.nodes[name] = self._dirty[name] = info
            for name, old in list(self.nodes.items()):
                if name not in listed and _older(old.resource_version, resource_version):
                    del self.nodes[name]
                    self._dirty[name] = None
            if not self._dirty:
                return
            self.version += 1
        self._schedule()

    def nudge(self) -> None:
        """Something pages show besides the nodes changed (pod counts arrived): they read themselves again."""
        with self.lock:
            self._resync = True
            self.version += 1
        self._schedule(now=True)

    def _apply(self, event: dict) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        rv = (obj.get("metadata") or {}).get("resourceVersion") or ""
        with self.lock:
            self.last_activity = time.monotonic()
            if rv:
                self.resource_version = rv
            if kind == "BOOKMARK":
                return
            name = (obj.get("metadata") or {}).get("name")
            if not name:
                return
            if kind == "DELETED":
                if self.nodes.pop(name, None) is None:
                    return
                info = None
            else:
                old = self.nodes.get(name)
                if old is not None and _older(rv, old.resource_version):
                    return  # the page's list already had a newer state of this node
                info = self._node_info(obj)
                self.nodes[name] = info
            self._dirty[name] = info
            self.version += 1
        self._schedule()

    def _set_state(self, state: str, error: str = "") -> None:
        with self.lock:
            changed = (state, error) != (self.state, self.error)
            self.state, self.error = state, error
        if changed:
            (log.info if state == "live" else log.warning)("node watch of cluster %s: %s%s", self.name, state,
                                                           f" ({error})" if error else "")
            self._schedule(now=True)

    def _schedule(self, now: bool = False) -> None:
        with self.lock:
            if self._timer is not None:
                return
            self._timer = threading.Timer(0 if now else BATCH_SECONDS, self._flush)
            self._timer.daemon = True
            self._timer.start()

    def _opened(self) -> None:
        self.streams_opened += 1
        with self.lock:
            self.last_activity = time.monotonic()
        self._set_state("live")

    def _flush(self) -> None:
        with self.lock:
            self._timer = None
            changed, self._dirty = self._dirty, {}
            resync, self._resync = self._resync, False
            batch = Batch(cluster=self.name, version=self.version, changed=changed, state=self.state,
                          error=self.error, resync=resync, counts=status_counts(self.nodes.values()))
            subscribers = list(self.subscribers.values())
        for callback in subscribers:
            try:
                callback(batch)
            except Exception:  # a subscriber that went away must not stop the others
                log.exception("node watch subscriber of cluster %s failed", self.name)

    # --- the watch thread ------------------------------------------------------------------------------------
    def start(self) -> None:
        metrics.node_watch_started()
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.stop()

    def _run(self) -> None:
        backoff = 0.5
        try:
            while not self._stop.is_set():
                try:
                    kube = kube_client.for_cluster(self.cluster)
                    if not self.resource_version:
                        items, rv = list_with_version(kube, NODES_PATH)
                        self._replace_all(items, rv)
                    stream = WatchStream(kube, NODES_PATH, self.resource_version, on_open=self._opened)
                    self._stream = stream
                    if self._stop.is_set():
                        break
                    for event in stream:
                        self._apply(event)
                        backoff = 0.5
                    # the server ended the stream (timeoutSeconds): go on from the last resourceVersion
                except KubeError as exc:
                    if self._stop.is_set():
                        break
                    if exc.status == 410:
                        with self.lock:
                            self.resource_version = ""  # too old: list again
                        continue
                    self._set_state("reconnecting", str(exc))
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX)
                except Exception as exc:  # never let the thread die silently
                    log.exception("node watch of cluster %s", self.name)
                    self._set_state("reconnecting", f"unexpected error: {type(exc).__name__}")
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX)
        finally:
            self._stream = None
            with self.lock:
                self.state = "stopped"
            metrics.node_watch_stopped()


def _older(rv: str, than: str) -> bool:
    """resourceVersions are opaque, but the API server's are integers that grow: compare them when they are."""
    try:
        return int(rv) < int(than)
    except ValueError:
        return False


# ---- the process-wide registry ------------------------------------------------------------------------------

def get(cluster) -> ClusterWatch | None:
    with _lock:
        w = _watches.get(cluster_key(cluster))
    return w if w is not None and w.state != "stopped" else None


def ensure(cluster, node_info: Callable[[dict], object], seed=None, resource_version: str = "") -> ClusterWatch:
    """The running watch of `cluster`, started when there is none (seeded with a list just read, if given)."""
    key = cluster_key(cluster)
    with _lock:
        w = _watches.get(key)
        if w is not None and w.state != "stopped":
            return w
        w = ClusterWatch(key, cluster, node_info)
        if seed is not None and resource_version:
            w.seed(seed, resource_version)
        for old_key in [k for k in _watches if k[0] == key[0] and k != key]:  # renamed or re-imported
            _watches.pop(old_key).stop()
        _watches[key] = w
        _start_reaper()
    w.start()
    return w


def running() -> list[ClusterWatch]:
    with _lock:
        return [w for w in _watches.values() if w.state != "stopped"]


def stop_all() -> None:
    with _lock:
        watches = list(_watches.values())
        _watches.clear()
    for w in watches:
        w.stop()


def forget(cluster_pk) -> None:
    """Stop the watch of a cluster that was removed."""
    with _lock:
        keys = [k for k in _watches if k[0] == cluster_pk]
        watches = [_watches.pop(k) for k in keys]
    for w in watches:
        w.stop()


def _start_reaper() -> None:
    """Called under _lock."""
    global _reaper
    if _reaper is None:
        _reaper = threading.Thread(target=_reap, name="node-watch-reaper", daemon=True)
        _reaper.start()


def _reap() -> None:
    global _reaper
    while True:
        time.sleep(REAP_SECONDS)
        now = time.monotonic()
        with _lock:
            idle = [k for k, w in _watches.items() if w.idle(now) or w.state == "stopped"]
            stopping = [_watches.pop(k) for k in idle]
            if not _watches:
                _reaper = None
        for w in stopping:
            w.stop()
        if _reaper is None or _reaper is not threading.current_thread():
            return
