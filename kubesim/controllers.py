"""The loops a real cluster runs beside the API server, reduced to what node management observes:

* kubelet: a terminating pod disappears after min(grace period, --grace-cap) seconds unless it still has
  finalizers; a new Pending pod bound to a node starts Running shortly after.
* ReplicaSet controller: a ReplicaSet with fewer active (non-terminating) pods than `spec.replicas` gets a
  replacement pod on another schedulable, Ready worker, so PodDisruptionBudgets recover after evictions.
* disruption controller: keeps every PodDisruptionBudget's status true (observedGeneration, expectedPods,
  currentHealthy, desiredHealthy, disruptionsAllowed, disruptedPods), except for budgets whose status a
  client writes itself through the /status subresource (a test harness playing the controller).
* --simulate-activity: now and then a worker turns NotReady and recovers a little later.
"""

import logging
import math
import random
import threading
import time

from . import events
from .resources import NODES, PDBS, PODS
from .selectors import match_pdb_selector

log = logging.getLogger("kubenode.sim")
TICK = 0.05
START_DELAY = 0.3  # Pending -> Running


class Controllers:
    def __init__(self, api, *, seed=0, activity=False):
        self.api = api
        self.store = api.store
        self.random = random.Random(seed + 1)
        self.activity = activity
        self.dirty_namespaces = set()
        self.dirty_replicasets = set()  # (namespace, name)
        self.starting = {}  # pod key -> monotonic time to start
        self.flipped = {}  # node name -> monotonic time to recover
        self.node_events = []  # events to record for node changes (made outside the listener)
        self.next_flip = time.monotonic() + 2.0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sim-controllers", daemon=True)
        self.store.listeners.append(self._observe)

    def start(self):
        self.dirty_namespaces.update(ns for ns, _ in self.store.objects["poddisruptionbudgets"])
        self.reconcile()
        self.thread.start()

    def stop(self):
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(2)

    # called under the store lock for every event: only remember what to look at
    def _observe(self, plural, etype, obj, old):
        meta = obj["metadata"]
        if plural == "pods":
            self.dirty_namespaces.add(meta["namespace"])
            owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
            if owner and owner.get("kind") == "ReplicaSet":
                self.dirty_replicasets.add((meta["namespace"], owner["name"]))
            if etype == "ADDED" and (obj.get("status") or {}).get("phase", "Pending") == "Pending" and (
                    obj.get("spec") or {}).get("nodeName"):
                self.starting[(meta["namespace"], meta["name"])] = time.monotonic() + START_DELAY
        elif plural == "poddisruptionbudgets":
            if etype != "DELETED" and (obj.get("status") or {}).get("observedGeneration") != meta.get("generation"):
                self.dirty_namespaces.add(meta["namespace"])
        elif plural == "nodes" and etype == "MODIFIED":
            self.node_events += events.for_change(meta["name"], old, obj)
        elif plural == "replicasets" and etype != "DELETED":
            self.dirty_replicasets.add((meta["namespace"], meta["name"]))

    def _run(self):
        while not self._stop.wait(TICK):
            try:
                self.reconcile()
            except Exception:  # keep the loop alive; the API must stay up
                log.exception("simulator controller error")

    def reconcile(self):
        with self.store.lock:
            now = time.monotonic()
            self._kubelet(now)
            self._replicasets()
            self._disruption()
            if self.activity:
                self._activity(now)
            pending, self.node_events = self.node_events, []
            for event in pending:
                events.record(self.store, event)

    # --- kubelet -------------------------------------------------------------------------------
    def _kubelet(self, now):
        objects = self.store.objects["pods"]
        for key, deadline in list(self.api.terminating.items()):
            pod = objects.get(key)
            if pod is None:
                del self.api.terminating[key]
            elif deadline <= now and not pod["metadata"].get("finalizers"):
                del self.api.terminating[key]
                self.store.delete(PODS, *key)
        for key, when in list(self.starting.items()):
            if when > now:
                continue
            del self.starting[key]
            pod = objects.get(key)
            if pod is None or pod["metadata"].get("deletionTimestamp") or (pod.get("status") or {}).get(
                    "phase", "Pending") != "Pending":
                continue
            if self.store.objects["nodes"].get(pod["spec"]["nodeName"]) is None:
                continue
            self.store.mutate(PODS, key[0], key[1], _run_pod)

    # --- ReplicaSet controller ------------------------------------------------------------------
    def _replicasets(self):
        if not self.dirty_replicasets:
            return
        dirty, self.dirty_replicasets = self.dirty_replicasets, set()
        for ns, name in dirty:
            rs = self.store.objects["replicasets"].get((ns, name))
            if rs is None:
                continue
            uid = rs["metadata"]["uid"]
            active = [p for (pns, _), p in self.store.objects["pods"].items()
                      if pns == ns and not p["metadata"].get("deletionTimestamp")
                      and any(o.get("uid") == uid for o in p["metadata"].get("ownerReferences") or [])]
            missing = (rs.get("spec") or {}).get("replicas", 0) - len(active)
            for _ in range(max(0, missing)):
                node = self._pick_node({p["spec"].get("nodeName") for p in active})
                if node is None:
                    break
                pod = _replacement(rs, node, self.random)
                while (ns, pod["metadata"]["name"]) in self.store.objects["pods"]:
                    pod = _replacement(rs, node, self.random)
                self.store.create(PODS, pod)
                active.append(pod)

    def _pick_node(self, avoid: set):
        candidates = [name for name, node in self.store.objects["nodes"].items() if _schedulable_worker(node)]
        preferred = [n for n in candidates if n not in avoid] or candidates
        return self.random.choice(preferred) if preferred else None

    # --- disruption controller ------------------------------------------------------------------
    def _disruption(self):
        if not self.dirty_namespaces:
            return
        dirty, self.dirty_namespaces = self.dirty_namespaces, set()
        pdbs = [(key, pdb) for key, pdb in self.store.objects["poddisruptionbudgets"].items()
                if key[0] in dirty and key not in self.api.manual_pdb_status]
        if not pdbs:
            return
        pods_by_ns = {}
        for (ns, _), pod in self.store.objects["pods"].items():
            if ns in dirty:
                pods_by_ns.setdefault(ns, []).append(pod)
        for (ns, name), pdb in pdbs:
            new_status = self.budget_status(pdb, pods_by_ns.get(ns, []))

            def write(obj, new_status=new_status):
                obj["status"] = new_status

            self.store.mutate(PDBS, ns, name, write)

    def budget_status(self, pdb: dict, pods: list) -> dict:
        spec = pdb.get("spec") or {}
        selector = spec.get("selector")
        matching = [p for p in pods if match_pdb_selector(selector, p["metadata"].get("labels"))
                    and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        present = {p["metadata"]["name"]: p for p in matching}
        disrupted = {name: ts for name, ts in ((pdb.get("status") or {}).get("disruptedPods") or {}).items()
                     if name in present and not present[name]["metadata"].get("deletionTimestamp")}
        expected = 0
        owners = set()
        for pod in matching:
            owner = next((o for o in pod["metadata"].get("ownerReferences") or [] if o.get("controller")), None)
            if owner and owner.get("kind") == "ReplicaSet":
                if owner["name"] not in owners:
                    owners.add(owner["name"])
                    rs = self.store.objects["replicasets"].get((pod["metadata"]["namespace"], owner["name"]))
                    expected += (rs or {}).get("spec", {}).get("replicas", 0) if rs else 1
            else:
                expected += 1
        healthy = sum(1 for p in matching if _healthy(p) and p["metadata"]["name"] not in disrupted)
        if "minAvailable" in spec:
            desired = _scaled(spec["minAvailable"], expected, up=True)
        elif "maxUnavailable" in spec:
            desired = max(0, expected - _scaled(spec["maxUnavailable"], expected, up=True))
        else:
            desired = expected
        result = {"observedGeneration": pdb["metadata"].get("generation", 1),
                  "disruptionsAllowed": max(0, healthy - desired), "currentHealthy": healthy,
                  "desiredHealthy": desired, "expectedPods": expected,
                  "conditions": [{"type": "DisruptionAllowed", "status": "True" if healthy > desired else "False",
                                  "reason": "SufficientPods" if healthy > desired else "InsufficientPods",
                                  "message": "", "observedGeneration": pdb["metadata"].get("generation", 1),
                                  "lastTransitionTime": pdb["metadata"].get("creationTimestamp")}]}
        if disrupted:
            result["disruptedPods"] = disrupted
        return result

    # --- activity --------------------------------------------------------------------------------
    def _activity(self, now):
        for name, when in list(self.flipped.items()):
            if when <= now:
                del self.flipped[name]
                if name in self.store.objects["nodes"]:
                    self.store.mutate(NODES, None, name, lambda n: _set_ready(n, "True"))
        if now < self.next_flip:
            return
        self.next_flip = now + self.random.uniform(2.0, 5.0)
        workers = [n for n, node in self.store.objects["nodes"].items() if _schedulable_worker(node)]
        if workers:
            name = self.random.choice(workers)
            self.store.mutate(NODES, None, name, lambda n: _set_ready(n, "Unknown"))
            self.flipped[name] = now + self.random.uniform(4.0, 10.0)


def _scaled(value, total: int, up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        fraction = int(value[:-1]) * total / 100.0
        return math.ceil(fraction) if up else math.floor(fraction)
    return int(value)


def _healthy(pod: dict) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    st = pod.get("status") or {}
    return st.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])


def _schedulable_worker(node: dict) -> bool:
    labels = node["metadata"].get("labels") or {}
    if "node-role.kubernetes.io/control-plane" in labels or (node.get("spec") or {}).get("unschedulable"):
        return False
    if any(t.get("effect") in ("NoSchedule", "NoExecute") for t in (node.get("spec") or {}).get("taints") or []):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def _set_ready(node: dict, value: str):
    for cond in node.setdefault("status", {}).setdefault("conditions", []):
        if cond.get("type") == "Ready":
            cond["status"] = value
            cond["reason"] = "KubeletReady" if value == "True" else "NodeStatusUnknown"
            cond["message"] = ("kubelet is posting ready status" if value == "True"
                               else "Kubelet stopped posting node status.")


def _run_pod(pod: dict):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    st = pod.setdefault("status", {})
    st["phase"] = "Running"
    st.setdefault("startTime", stamp)
    st["conditions"] = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp}
                        for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")]
    st["containerStatuses"] = [{"name": c.get("name", "app"), "image": c.get("image", ""), "imageID": "",
                                "ready": True, "restartCount": 0, "started": True,
                                "state": {"running": {"startedAt": stamp}}}
                               for c in (pod.get("spec") or {}).get("containers") or []]


def _replacement(rs: dict, node: str, rng) -> dict:
    meta = rs["metadata"]
    template = (rs.get("spec") or {}).get("template") or {}
    suffix = "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
    spec = dict(template.get("spec") or {}, nodeName=node)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    return {
        "metadata": {"name": f"{meta['name']}-{suffix}", "namespace": meta["namespace"],
                     "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": meta["name"],
                                          "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
        "spec": spec,
        "status": {"phase": "Pending"},
    }
