"""Plays the controllers a bare kube-apiserver lacks: Ready nodes, Running pods, DaemonSets, PDB status,
finishing terminating pods. Talks plain HTTP(S) with a bearer token, so it works on the simulator too."""
import calendar
import threading
import time
import uuid

import requests
import urllib3

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


class Harness:
    def __init__(self, url, token):
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.http.verify = False
        self._stop = threading.Event()
        self._finalizer = None

    def req(self, method, path, body=None, content_type="application/json", **params):
        headers = {"Content-Type": content_type} if body is not None else {}
        # verify per request: a session's verify=False loses to REQUESTS_CA_BUNDLE from the environment
        return self.http.request(method, self.url + path, json=body, headers=headers, params=params or None,
                                 timeout=30, verify=False)

    def ok(self, method, path, body=None, **kw):
        resp = self.req(method, path, body, **kw)
        if resp.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json()

    # --- nodes -----------------------------------------------------------------------------------
    def create_node(self, name, labels=None, cpu="4", memory="16Gi", pods="110"):
        self.ok("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                          "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                                               **(labels or {})}}})
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        capacity = {"cpu": cpu, "memory": memory, "pods": pods}
        status = {"status": {
            "capacity": capacity, "allocatable": capacity,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status", "lastHeartbeatTime": now,
                            "lastTransitionTime": now}],
            "nodeInfo": {"kubeletVersion": "v1.20.2", "kubeProxyVersion": "v1.20.2", "osImage": "Debian 12",
                         "containerRuntimeVersion": "containerd://1.6.20", "kernelVersion": "6.1.0",
                         "operatingSystem": "linux", "architecture": "amd64", "machineID": name,
                         "systemUUID": name, "bootID": name},
            "addresses": [{"type": "Hostname", "address": name}]}}
        self.ok("PATCH", f"/api/v1/nodes/{name}/status", status, content_type=STRATEGIC)
        node = self.ok("GET", f"/api/v1/nodes/{name}")
        taints = [t for t in node["spec"].get("taints") or [] if t["key"] != "node.kubernetes.io/not-ready"]
        if taints != (node["spec"].get("taints") or []):
            self.ok("PATCH", f"/api/v1/nodes/{name}", {"spec": {"taints": taints or None}}, content_type=MERGE)
        return self.ok("GET", f"/api/v1/nodes/{name}")

    # --- pods ------------------------------------------------------------------------------------
    def create_pod(self, ns, name, node, labels=None, owner=None, emptydir=False, grace=1):
        self.ensure_namespace(ns)
        spec = {"nodeName": node, "terminationGracePeriodSeconds": grace,
                "containers": [{"name": "app", "image": "registry.invalid/app:1"}]}
        if emptydir:
            spec["volumes"] = [{"name": "scratch", "emptyDir": {}}]
        meta = {"name": name, "labels": labels or {}}
        if owner:
            meta["ownerReferences"] = [owner]
        self.ok("POST", f"/api/v1/namespaces/{ns}/pods", {"apiVersion": "v1", "kind": "Pod",
                                                           "metadata": meta, "spec": spec})
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.ok("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status",
                {"status": {"phase": "Running", "startTime": now,
                            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}},
                content_type=MERGE)
        return self.ok("GET", f"/api/v1/namespaces/{ns}/pods/{name}")

    def create_replica(self, ns, name, node, labels, replicaset="web", emptydir=False, grace=1):
        """A pod owned by a ReplicaSet (the owner need not exist: no garbage collector runs)."""
        owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replicaset,
                 "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ns}/{replicaset}")), "controller": True}
        return self.create_pod(ns, name, node, labels, owner=owner, emptydir=emptydir, grace=grace)

    def ensure_namespace(self, ns):
        resp = self.req("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                        "metadata": {"name": ns}})
        if resp.status_code not in (201, 409):
            raise RuntimeError(f"namespace {ns}: {resp.status_code} {resp.text[:200]}")

    def create_daemonset(self, ns, name, nodes):
        self.ensure_namespace(ns)
        ds = self.ok("POST", f"/apis/apps/v1/namespaces/{ns}/daemonsets", {
            "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"ds": name}},
                     "template": {"metadata": {"labels": {"ds": name}},
                                  "spec": {"containers": [{"name": "d", "image": "registry.invalid/d:1"}]}}}})
        owner = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": name, "uid": ds["metadata"]["uid"],
                 "controller": True}
        return [self.create_pod(ns, f"{name}-{node}", node, {"ds": name}, owner=owner) for node in nodes]

    # --- PDBs ------------------------------------------------------------------------------------
    def pdb_path(self, ns, name=""):
        version = "v1beta1" if self.has_group_version("policy", "v1beta1") else "v1"
        return f"/apis/policy/{version}/namespaces/{ns}/poddisruptionbudgets" + (f"/{name}" if name else "")

    def has_group_version(self, group, version):
        groups = self.ok("GET", "/apis")["groups"]
        return any(g["name"] == group and any(v["version"] == version for v in g["versions"]) for g in groups)

    def create_pdb(self, ns, name, match_labels, max_unavailable=0):
        self.ensure_namespace(ns)
        pdb = self.ok("POST", self.pdb_path(ns), {
            "apiVersion": self.pdb_path(ns).split("/")[2] + "/" + self.pdb_path(ns).split("/")[3],
            "kind": "PodDisruptionBudget", "metadata": {"name": name},
            "spec": {"maxUnavailable": max_unavailable, "selector": {"matchLabels": match_labels}}})
        return self.set_pdb_allowed(ns, name, 0, generation=pdb["metadata"].get("generation", 1))

    def set_pdb_allowed(self, ns, name, allowed, generation=None, healthy=1):
        if generation is None:
            generation = self.ok("GET", self.pdb_path(ns, name))["metadata"].get("generation", 1)
        return self.ok("PATCH", self.pdb_path(ns, name) + "/status", {"status": {
            "observedGeneration": generation, "disruptionsAllowed": allowed, "currentHealthy": healthy,
            "desiredHealthy": healthy - allowed, "expectedPods": healthy}}, content_type=MERGE)

    # --- finishing deletions ---------------------------------------------------------------------
    def finalize_once(self):
        pods = self.ok("GET", "/api/v1/pods")["items"]
        now = time.time()
        for pod in pods:
            meta = pod["metadata"]
            ts = meta.get("deletionTimestamp")
            if not ts:
                continue
            deadline = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))
            if now >= deadline:
                self.req("DELETE", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                         {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})

    def start_finalizer(self, interval=0.5):
        def loop():
            while not self._stop.wait(interval):
                try:
                    self.finalize_once()
                except (requests.RequestException, RuntimeError):
                    pass
        self._finalizer = threading.Thread(target=loop, name="pod-finalizer", daemon=True)
        self._finalizer.start()

    def stop(self):
        self._stop.set()
        if self._finalizer:
            self._finalizer.join(timeout=5)
