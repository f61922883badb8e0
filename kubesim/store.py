"""The object store: one lock, one global resourceVersion counter, a bounded event log for watches.

Objects are never mutated in place once stored: every write stores a new dict, so readers may keep a
reference taken under the lock and serialize it afterwards.
"""

import copy
import datetime
import json
import threading
import uuid
from collections import deque

from .errors import ApiError, conflict, not_found
from .resources import BY_PLURAL, Resource

EVENT_LOG_SIZE = 20000


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_of(res: Resource, namespace: str | None, name: str):
    return (namespace or "", name) if res.namespaced else name


class Store:
    def __init__(self):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 1
        self.objects = {plural: {} for plural in BY_PLURAL}
        self._json = {plural: {} for plural in BY_PLURAL}  # cached serialized bytes per object
        self.events = deque(maxlen=EVENT_LOG_SIZE)  # (rv, plural, type, obj, old)
        self.pods_by_node = {}  # nodeName -> set of pod keys
        self.listeners = []  # callables(plural, type, obj, old), called under the lock
        self.compacted_rv = 0  # watches from an older resourceVersion get 410 Expired

    def compact(self):
        """Forget the event history (after generating the cluster): older watch positions expire."""
        with self.lock:
            self.events.clear()
            self.compacted_rv = self.rv

    # --- reading -------------------------------------------------------------------------------
    def get(self, res: Resource, namespace, name) -> dict:
        obj = self.objects[res.plural].get(key_of(res, namespace, name))
        if obj is None:
            raise not_found(res.plural, name, res.group)
        return obj

    def find(self, res: Resource, namespace, name) -> dict | None:
        return self.objects[res.plural].get(key_of(res, namespace, name))

    def encoded(self, plural: str, key, obj: dict) -> bytes:
        cache = self._json[plural]
        raw = cache.get(key)
        if raw is None or raw[0] is not obj:
            raw = (obj, json.dumps(obj, separators=(",", ":")).encode())
            cache[key] = raw
        return raw[1]

    def oldest_event_rv(self) -> int:
        return self.events[0][0] if len(self.events) == self.events.maxlen else 0

    # --- writing -------------------------------------------------------------------------------
    def _bump(self) -> str:
        self.rv += 1
        return str(self.rv)

    def _record(self, res: Resource, etype: str, obj: dict, old: dict | None):
        if len(self.events) == self.events.maxlen:
            self.compacted_rv = self.events[0][0]
        self.events.append((self.rv, res.plural, etype, obj, old))
        for listener in self.listeners:
            listener(res.plural, etype, obj, old)
        self.changed.notify_all()

    def _index(self, res: Resource, key, obj: dict | None, old: dict | None):
        if res.plural != "pods":
            return
        old_node = ((old or {}).get("spec") or {}).get("nodeName")
        new_node = ((obj or {}).get("spec") or {}).get("nodeName")
        if old_node and old_node != new_node or (old_node and obj is None):
            self.pods_by_node.get(old_node, set()).discard(key)
        if new_node and obj is not None:
            self.pods_by_node.setdefault(new_node, set()).add(key)

    def create(self, res: Resource, obj: dict, version: str | None = None) -> dict:
        with self.lock:
            meta = obj.setdefault("metadata", {})
            name = meta.get("name")
            if not name and meta.get("generateName"):
                name = meta["generateName"] + uuid.uuid4().hex[:5]
                meta["name"] = name
            if not name:
                raise ApiError(422, f"{res.kind} \"\" is invalid: metadata.name: Required value: name or "
                                    f"generateName is required", details={"kind": res.kind, "causes": [{
                                        "reason": "FieldValueRequired", "message": "Required value: name or "
                                        "generateName is required", "field": "metadata.name"}]})
            key = key_of(res, meta.get("namespace"), name)
            if key in self.objects[res.plural]:
                what = f"{res.plural}.{res.group}" if res.group else res.plural
                raise ApiError(409, f'{what} "{name}" already exists', reason="AlreadyExists",
                               details={"name": name, "kind": res.plural, **({"group": res.group} if res.group
                                                                              else {})})
            obj["apiVersion"] = res.api_version(version)
            obj["kind"] = res.kind
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now_iso())
            if res.has_generation:
                meta["generation"] = 1
            meta["resourceVersion"] = self._bump()
            self.objects[res.plural][key] = obj
            self._index(res, key, obj, None)
            self._record(res, "ADDED", obj, None)
            return obj

    def replace(self, res: Resource, new: dict, *, expect_rv: str | None = None, server: bool = False) -> dict:
        """Store `new` in place of the current object with the same name. No-op writes bump nothing.

        Client writes (server=False) cannot change uid, creationTimestamp, generation or the deletion fields.
        """
        with self.lock:
            meta = new["metadata"]
            key = key_of(res, meta.get("namespace"), meta["name"])
            old = self.objects[res.plural].get(key)
            if old is None:
                raise not_found(res.plural, meta["name"], res.group)
            if expect_rv and expect_rv != old["metadata"]["resourceVersion"]:
                raise conflict(res.plural, meta["name"],
                               "the object has been modified; please apply your changes to the latest version "
                               "and try again", res.group)
            # fields the client may not change
            owned = ("uid", "creationTimestamp", "generation")
            if not server:
                owned += ("deletionTimestamp", "deletionGracePeriodSeconds")
            for field in owned:
                if field in old["metadata"]:
                    meta[field] = old["metadata"][field]
                else:
                    meta.pop(field, None)
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
            if new == old:
                return old
            if res.has_generation and new.get("spec") != old.get("spec"):
                meta["generation"] = old["metadata"].get("generation", 1) + 1
            meta["resourceVersion"] = self._bump()
            self.objects[res.plural][key] = new
            self._index(res, key, new, old)
            self._record(res, "MODIFIED", new, old)
            return new

    def mutate(self, res: Resource, namespace, name, change) -> dict:
        """Internal write: `change(copy)` edits a deep copy of the current object which is then stored."""
        with self.lock:
            current = self.get(res, namespace, name)
            new = copy.deepcopy(current)
            change(new)
            return self.replace(res, new, server=True)

    def delete(self, res: Resource, namespace, name) -> dict:
        with self.lock:
            key = key_of(res, namespace, name)
            old = self.objects[res.plural].pop(key, None)
            if old is None:
                raise not_found(res.plural, name, res.group)
            self._json[res.plural].pop(key, None)
            gone = copy.copy(old)
            gone["metadata"] = dict(old["metadata"], resourceVersion=self._bump())
            self._index(res, key, None, old)
            self._record(res, "DELETED", gone, old)
            return gone
