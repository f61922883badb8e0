"""The API operations, independent of HTTP: list, watch, get, create, update, patch, delete, evict."""

import base64
import copy
import datetime
import json
import time

from . import validation
from .errors import ApiError, bad_request, conflict, not_found, status
from .patching import apply_patch
from .resources import NAMESPACES, NODES, PDBS, PODS, Resource
from .selectors import (
    EVENT_FIELDS,
    GENERIC_FIELDS,
    NODE_FIELDS,
    POD_FIELDS,
    FieldSelector,
    LabelSelector,
    match_pdb_selector,
)
from .store import Store, key_of

TERMINAL = ("Succeeded", "Failed")
SUPPORTED_FIELDS = {"nodes": NODE_FIELDS, "pods": POD_FIELDS, "events": EVENT_FIELDS}
PDB_MESSAGE = "Cannot evict pod as it would violate the pod's disruption budget."


def _name_mismatch(body_name: str, url_name: str) -> ApiError:
    return bad_request(f"the name of the object ({body_name}) does not match the name on the URL ({url_name})")


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Api:
    def __init__(self, store: Store, *, grace_cap: float = 1.0):
        self.store = store
        self.grace_cap = grace_cap
        self.terminating = {}  # pod key -> monotonic time at which the kubelet finishes it
        self.manual_pdb_status = set()  # PDB keys whose status a client writes (not the controller)

    # --- reading -------------------------------------------------------------------------------
    def _selectors(self, res: Resource, query: dict):
        labels = LabelSelector(query.get("labelSelector"))
        fields = FieldSelector(query.get("fieldSelector"), SUPPORTED_FIELDS.get(res.plural, GENERIC_FIELDS))
        return labels, fields

    def _candidates(self, res: Resource, namespace: str | None, fields: FieldSelector):
        """Objects worth testing against the selectors (uses the pod-by-node index), sorted by key."""
        objects = self.store.objects[res.plural]
        if res.plural == "pods":
            node = fields.equal_value("spec.nodeName")
            if node is not None:
                keys = sorted(self.store.pods_by_node.get(node, ()))
                return [(k, objects[k]) for k in keys if not namespace or k[0] == namespace]
        name = fields.equal_value("metadata.name")
        if name is not None:
            key = key_of(res, namespace, name)
            if res.namespaced and not namespace:
                return sorted((k, o) for k, o in objects.items() if k[1] == name)
            return [(key, objects[key])] if key in objects else []
        if res.namespaced and namespace:
            return sorted((k, o) for k, o in objects.items() if k[0] == namespace)
        return sorted(objects.items(), key=lambda item: item[0])

    def list(self, res: Resource, namespace: str | None, query: dict, version: str) -> bytes:
        labels, fields = self._selectors(res, query)
        limit = int(query.get("limit") or 0)
        start_after = None
        if query.get("continue"):
            try:
                token = json.loads(base64.urlsafe_b64decode(query["continue"].encode()))
                start_after = tuple(token["start"]) if isinstance(token["start"], list) else token["start"]
            except (ValueError, KeyError, TypeError):
                raise bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                                  "(version meta.k8s.io/v1)") from None
        with self.store.lock:
            rv = self.store.rv
            items = self._candidates(res, namespace, fields)
        chosen, more = [], 0
        for key, obj in items:
            if start_after is not None and key <= start_after:
                continue
            if (labels and not labels.matches(obj["metadata"].get("labels"))) or (fields and not fields.matches(obj)):
                continue
            if limit and len(chosen) >= limit:
                more += 1
                continue
            chosen.append((key, obj))
        meta = {"resourceVersion": str(rv)}
        if more:
            last = chosen[-1][0]
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(
                {"v": "meta.k8s.io/v1", "rv": rv, "start": list(last) if isinstance(last, tuple) else last}
            ).encode()).decode()
            meta["remainingItemCount"] = more
        head = json.dumps({"kind": res.list_kind, "apiVersion": res.api_version(version), "metadata": meta})
        body = b",".join(self.store.encoded(res.plural, key, obj) for key, obj in chosen)
        return head[:-1].encode() + b',"items":[' + body + b"]}"

    def get(self, res: Resource, namespace, name) -> dict:
        with self.store.lock:
            return self.store.get(res, namespace, name)

    def watch(self, res: Resource, namespace: str | None, query: dict, *, stop=lambda: False):
        """Yield watch event dicts until timeoutSeconds passes or stop() says so."""
        labels, fields = self._selectors(res, query)
        timeout = float(query.get("timeoutSeconds") or 1800)
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        deadline = time.monotonic() + timeout
        since = query.get("resourceVersion") or "0"

        def visible(obj):
            if obj is None:
                return False
            if namespace and obj["metadata"].get("namespace") != namespace:
                return False
            return labels.matches(obj["metadata"].get("labels")) and (not fields or fields.matches(obj))

        store = self.store
        with store.lock:
            if since == "0":
                last = store.rv
                initial = [obj for _, obj in self._candidates(res, namespace, fields) if visible(obj)]
            else:
                try:
                    last = int(since)
                except ValueError:
                    raise bad_request(f'invalid resource version "{since}"') from None
                initial = []
                if last < store.compacted_rv:
                    expired = status(410, f"too old resource version: {last} ({store.compacted_rv})", "Expired")
                    yield {"type": "ERROR", "object": expired}
                    return
        for obj in initial:
            yield {"type": "ADDED", "object": obj}
        while not stop():
            pending = []
            with store.lock:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                if store.rv <= last:
                    store.changed.wait(min(remaining, 1.0))
                for rv, plural, etype, obj, old in reversed(store.events):
                    if rv <= last:
                        break
                    if plural == res.plural:
                        pending.append((etype, obj, old))
                idle = store.rv <= last
                last = store.rv
            for etype, obj, old in reversed(pending):
                now_in, was_in = visible(obj), visible(old)
                if etype == "MODIFIED":
                    if now_in and not was_in:
                        etype = "ADDED"
                    elif was_in and not now_in:
                        etype = "DELETED"
                    elif not now_in:
                        continue
                elif etype == "ADDED" and not now_in:
                    continue
                elif etype == "DELETED" and not (was_in or now_in):
                    continue
                yield {"type": etype, "object": obj}
            if idle and bookmarks:
                yield {"type": "BOOKMARK", "object": {"kind": res.kind, "apiVersion": res.api_version(),
                                                      "metadata": {"resourceVersion": str(last)}}}

    # --- writing -------------------------------------------------------------------------------
    def _check_namespace(self, res: Resource, namespace):
        if res.namespaced and self.store.find(NAMESPACES, None, namespace) is None:
            raise not_found("namespaces", namespace)

    def _validate(self, res: Resource, obj: dict, create: bool = False):
        if res is NODES:
            validation.validate_node(obj, create)
        else:
            validation.validate_generic(obj, res.kind, res.group, create)

    @staticmethod
    def _normalize(res: Resource, obj: dict):
        if res is NODES:
            spec = obj.setdefault("spec", {})
            if spec.get("unschedulable") is False:
                del spec["unschedulable"]
            if spec.get("taints") == []:
                del spec["taints"]
        meta = obj["metadata"]
        for field in ("labels", "annotations"):
            if meta.get(field) == {}:
                del meta[field]

    def create(self, res: Resource, namespace, body, version: str) -> dict:
        if not isinstance(body, dict):
            raise bad_request("the body of the request is not a JSON object")
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if res.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                                  "request")
            meta["namespace"] = namespace
        for field in ("resourceVersion", "uid", "deletionTimestamp", "generation"):
            meta.pop(field, None)
        self._validate(res, body, create=True)
        self._normalize(res, body)
        with self.store.lock:
            self._check_namespace(res, namespace)
            if res is PDBS:
                body.pop("status", None)
                body["status"] = {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
                                  "expectedPods": 0}
            if res is PODS:
                body.setdefault("spec", {}).setdefault("terminationGracePeriodSeconds", 30)
                body.setdefault("status", {}).setdefault("phase", "Pending")
            return self.store.create(res, body, version)

    def _store_update(self, res: Resource, current: dict, new: dict, subresource: str, expect_rv=None) -> dict:
        if not isinstance(new, dict) or not isinstance(new.get("metadata", {}), dict):
            raise bad_request("the body of the request is not a valid object")
        new.setdefault("metadata", {})
        new["metadata"]["name"] = current["metadata"]["name"]
        if res.namespaced:
            new["metadata"]["namespace"] = current["metadata"]["namespace"]
        if subresource == "status":  # only status changes
            merged = copy.deepcopy(current)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            new = merged
        elif "status" in current or "status" in new:  # the main resource ignores status changes
            if "status" in current:
                new["status"] = copy.deepcopy(current["status"])
            else:
                new.pop("status", None)
        self._validate(res, new)
        self._normalize(res, new)
        if res is PDBS and subresource == "status":
            self.manual_pdb_status.add(key_of(res, current["metadata"].get("namespace"), current["metadata"]["name"]))
        return self.store.replace(res, new, expect_rv=expect_rv)

    def update(self, res: Resource, namespace, name, body, subresource: str = "") -> dict:
        with self.store.lock:
            current = self.store.get(res, namespace, name)
            if not isinstance(body, dict):
                raise bad_request("the body of the request is not a JSON object")
            meta = body.get("metadata") or {}
            if meta.get("name") and meta["name"] != name:
                raise _name_mismatch(meta["name"], name)
            expect = meta.get("resourceVersion") or None
            return self._store_update(res, current, copy.deepcopy(body), subresource, expect_rv=expect)

    def patch(self, res: Resource, namespace, name, content_type: str, body, subresource: str = "") -> dict:
        with self.store.lock:
            current = self.store.get(res, namespace, name)
            patched = apply_patch(current, content_type, body)
            if not isinstance(patched, dict):
                raise ApiError(422, "the patch produced something that is not an object", reason="Invalid")
            meta = patched.get("metadata") or {}
            current_rv = current["metadata"]["resourceVersion"]
            if isinstance(meta, dict) and meta.get("resourceVersion") not in (None, current_rv):
                raise conflict(res.plural, name, "the object has been modified; please apply your changes to the "
                                                 "latest version and try again", res.group)
            if isinstance(meta, dict):
                if meta.get("name", name) != name:
                    raise _name_mismatch(meta["name"], name)
                meta.pop("resourceVersion", None)
            return self._store_update(res, current, patched, subresource)

    def delete(self, res: Resource, namespace, name, options: dict) -> dict:
        with self.store.lock:
            current = self.store.get(res, namespace, name)
            pre = options.get("preconditions") or {}
            self._check_preconditions(res, current, pre)
            if res is PODS:
                return self._delete_pod(current, options.get("gracePeriodSeconds"))
            if res is NAMESPACES:
                return self.store.delete(res, namespace, name)
            return self.store.delete(res, namespace, name)

    @staticmethod
    def _check_preconditions(res: Resource, current: dict, pre: dict):
        """Delete preconditions, with the real server's words (its check names the Kind, not the plural)."""
        meta = current["metadata"]
        if pre.get("uid") and pre["uid"] != meta["uid"]:
            raise conflict(res.kind, meta["name"], f"the UID in the precondition ({pre['uid']}) does not match the "
                                                   f"UID in record ({meta['uid']}). The object might have been "
                                                   "deleted and then recreated", res.group)
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            raise conflict(res.kind, meta["name"], f"the ResourceVersion in the precondition "
                                                   f"({pre['resourceVersion']}) does not match the ResourceVersion "
                                                   f"in record ({meta['resourceVersion']}). The object might have "
                                                   "been modified", res.group)

    def _delete_pod(self, pod: dict, grace) -> dict:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        if meta.get("deletionTimestamp") and grace is None and meta.get("deletionGracePeriodSeconds"):
            return pod  # already terminating: only an explicit, shorter grace period changes anything
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        grace = max(0, int(grace))
        phase = (pod.get("status") or {}).get("phase")
        key = (meta["namespace"], meta["name"])
        immediate = grace == 0 or not spec.get("nodeName") or phase in TERMINAL
        if immediate and not meta.get("finalizers"):
            self.terminating.pop(key, None)
            return self.store.delete(PODS, meta["namespace"], meta["name"])
        if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds", 0) <= grace:
            return pod  # already terminating at least this fast
        self.terminating[key] = time.monotonic() + min(grace, self.grace_cap)

        def mark(new):
            new["metadata"]["deletionTimestamp"] = _iso(time.time() + grace)
            new["metadata"]["deletionGracePeriodSeconds"] = grace

        return self.store.mutate(PODS, meta["namespace"], meta["name"], mark)

    # --- eviction --------------------------------------------------------------------------------
    def evict(self, namespace, name, body, versions=("v1", "v1beta1")) -> dict:
        """`versions`: the policy versions served (only v1beta1 when mimicking Kubernetes 1.20)."""
        if not isinstance(body, dict):
            raise bad_request("the body of the request is not a JSON object")
        api_version = body.get("apiVersion") or ""
        if api_version.startswith("policy/") and api_version[7:] not in versions:
            version = api_version[7:]
            raise bad_request(f'Eviction in version "{version}" cannot be handled as a Eviction: no kind "Eviction" '
                              f'is registered for version "{api_version}" in scheme '
                              '"k8s.io/kubernetes/pkg/api/legacyscheme/scheme.go:30"')
        if api_version not in ("", "policy/v1", "policy/v1beta1"):
            raise bad_request(f"unsupported apiVersion for Eviction: {body.get('apiVersion')}")
        if body.get("kind") not in (None, "", "Eviction"):
            raise bad_request(f"expected kind Eviction, got {body.get('kind')}")
        if (body.get("metadata") or {}).get("name") != name:
            raise bad_request("name in URL does not match name in Eviction object")
        options = body.get("deleteOptions") or {}
        dry_run = bool(options.get("dryRun")) or bool(body.get("dryRun"))
        with self.store.lock:
            pod = self.store.get(PODS, namespace, name)
            self._check_preconditions(PODS, pod, options.get("preconditions") or {})
            phase = (pod.get("status") or {}).get("phase")
            if phase not in ("Pending", "Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp"):
                self._check_budget(pod, dry_run)
            if not dry_run:
                self._delete_pod(pod, options.get("gracePeriodSeconds"))
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    def _check_budget(self, pod: dict, dry_run: bool):
        namespace = pod["metadata"]["namespace"]
        labels = pod["metadata"].get("labels") or {}
        pdbs = [p for (ns, _), p in self.store.objects["poddisruptionbudgets"].items()
                if ns == namespace and match_pdb_selector((p.get("spec") or {}).get("selector"), labels)]
        if not pdbs:
            return
        if len(pdbs) > 1:
            raise ApiError(500, "This pod has more than one PodDisruptionBudget, which the eviction subresource "
                                "does not support.", reason="InternalError")
        pdb = pdbs[0]
        pdb_name = pdb["metadata"]["name"]
        st = pdb.get("status") or {}
        if st.get("observedGeneration", 0) < pdb["metadata"].get("generation", 1):
            raise self._too_many(f"The disruption budget {pdb_name} is still being processed by the server.")
        if st.get("disruptionsAllowed", 0) <= 0:
            raise self._too_many(f"The disruption budget {pdb_name} needs {st.get('desiredHealthy', 0)} healthy "
                                 f"pods and has {st.get('currentHealthy', 0)} currently")
        if dry_run:
            return

        def spend(new):
            s = new.setdefault("status", {})
            s["disruptionsAllowed"] = s.get("disruptionsAllowed", 0) - 1
            s.setdefault("disruptedPods", {})[pod["metadata"]["name"]] = _iso(time.time())

        self.store.mutate(PDBS, namespace, pdb_name, spend)

    @staticmethod
    def _too_many(cause: str) -> ApiError:
        return ApiError(429, PDB_MESSAGE, reason="TooManyRequests",
                        details={"causes": [{"reason": "DisruptionBudget", "message": cause}]},
                        headers={"Retry-After": "1"})
