"""A realistic, seed-deterministic cluster: control plane, workers over three zones, GPU and NotReady nodes,
DaemonSets, mirror pods, deployments with PodDisruptionBudgets, emptyDir, unmanaged and finished pods."""

import datetime
import random
import uuid

from . import events
from .resources import DAEMONSETS, NAMESPACES, NODES, PDBS, PODS, REPLICASETS
from .store import Store

ZONES = ("zone-a", "zone-b", "zone-c")
REGION = "sim-region-1"
INSTANCE_TYPES = (  # name, cpu, memory GiB
    ("m5.xlarge", 4, 16), ("m5.2xlarge", 8, 32), ("c5.4xlarge", 16, 32), ("r5.2xlarge", 8, 64),
)
GPU_TYPES = (("p3.2xlarge", 8, 61, 1), ("g5.12xlarge", 48, 192, 4))
KUBELET_VERSION = "v1.31.0"
OS_IMAGE = "Ubuntu 22.04.4 LTS"
NAMESPACE_NAMES = ("default", "kube-system", "monitoring", "shop", "payments", "batch")
APPS = (  # name, namespace, replicas, pdb (kind, value) or None, emptyDir
    ("checkout", "shop", 3, ("minAvailable", 2), False),
    ("catalog", "shop", 4, ("maxUnavailable", 1), False),
    ("ledger", "payments", 2, ("minAvailable", 2), False),  # never disruptible: drains block on it
    ("cart-cache", "shop", 2, None, True),
    ("api-gateway", "default", 3, ("minAvailable", "50%"), False),
    ("search", "shop", 3, ("maxUnavailable", "34%"), True),
    ("notifier", "default", 2, None, False),
    ("fraud-model", "payments", 2, ("maxUnavailable", 1), False),
)


class Generator:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        self.used = set()

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def suffix(self, n=5) -> str:
        """A random name suffix, never handed out twice."""
        while True:
            text = "".join(self.rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))
            if text not in self.used:
                self.used.add(text)
                return text

    def stamp(self, max_days=200, min_days=0) -> str:
        age = datetime.timedelta(seconds=self.rng.randint(min_days * 86400, max_days * 86400))
        return (self.now - age).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(ctype, status, reason, message, stamp):
    return {"type": ctype, "status": status, "lastHeartbeatTime": stamp, "lastTransitionTime": stamp,
            "reason": reason, "message": message}


def make_node(g: Generator, name: str, index: int, *, control_plane=False, gpu=None, ready="True") -> dict:
    zone = ZONES[index % len(ZONES)]
    itype, cpu, mem = (("m5.2xlarge", 8, 32) if control_plane else g.rng.choice(INSTANCE_TYPES))
    gpus = 0
    if gpu:
        itype, cpu, mem, gpus = gpu
    arch = "amd64" if control_plane or gpu or g.rng.random() < 0.85 else "arm64"
    labels = {
        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": arch,
        "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": REGION,
        "node.kubernetes.io/instance-type": itype,
    }
    taints = []
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
        taints.append({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"})
    else:
        labels["node-role.kubernetes.io/worker"] = ""
        labels["pool"] = "gpu" if gpu else g.rng.choice(("general", "general", "compute", "memory"))
    if gpu:
        labels["nvidia.com/gpu.present"] = "true"
        taints.append({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"})
    stamp = g.stamp(1, 0)
    conditions = [
        _condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available",
                   stamp),
        _condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", stamp),
        _condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", stamp),
    ]
    if ready == "True":
        conditions.append(_condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", stamp))
    elif ready == "False":
        conditions.append(_condition("Ready", "False", "KubeletNotReady",
                                     "container runtime network not ready: NetworkReady=false", stamp))
        taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoExecute", "timeAdded": stamp})
    else:
        conditions = [dict(c, status="Unknown", reason="NodeStatusUnknown",
                           message="Kubelet stopped posting node status.") for c in conditions]
        conditions.append(_condition("Ready", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.",
                                     stamp))
        taints.append({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": stamp})
    capacity = {"cpu": str(cpu), "memory": f"{mem * 1024 * 1024}Ki", "pods": "110",
                "ephemeral-storage": "104845292Ki", "hugepages-2Mi": "0"}
    allocatable = dict(capacity, cpu=f"{cpu * 1000 - 100}m", memory=f"{mem * 1024 * 1024 - 512 * 1024}Ki",
                       **{"ephemeral-storage": "96625420948"})
    if gpus:
        capacity["nvidia.com/gpu"] = allocatable["nvidia.com/gpu"] = str(gpus)
    octet = 10 + index // 250, index % 250 + 1
    spec = {"podCIDR": f"10.244.{index % 256}.0/24", "providerID": f"sim://{REGION}/{zone}/{name}"}
    if taints:
        spec["taints"] = taints
    return {
        "metadata": {"name": name, "uid": g.uid(), "creationTimestamp": g.stamp(400, 30), "labels": labels,
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                     "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": spec,
        "status": {
            "capacity": capacity, "allocatable": allocatable, "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": f"10.0.{octet[0]}.{octet[1]}"},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": g.uid().replace("-", ""), "systemUUID": g.uid(), "bootID": g.uid(),
                         "kernelVersion": "5.15.0-105-generic", "osImage": OS_IMAGE,
                         "containerRuntimeVersion": "containerd://1.7.13", "kubeletVersion": KUBELET_VERSION,
                         "kubeProxyVersion": KUBELET_VERSION, "operatingSystem": "linux", "architecture": arch},
        },
    }


def make_pod(g: Generator, name, namespace, node, *, labels=None, owner=None, annotations=None, volumes=None,
             phase="Running", image="registry.local/app:1.0", grace=30, tolerations=None, ip_index=0,
             resources=None) -> dict:
    started = g.stamp(20, 0)
    ready = "True" if phase == "Running" else "False"
    meta = {"name": name, "namespace": namespace, "uid": g.uid(), "creationTimestamp": started,
            "labels": labels or {}}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": owner[0], "kind": owner[1], "name": owner[2], "uid": owner[3],
                                    "controller": True, "blockOwnerDeletion": True}]
    if annotations:
        meta["annotations"] = annotations
    if not meta["labels"]:
        del meta["labels"]
    container = {"name": name.split("-")[0], "image": image,
                 "resources": resources or {"requests": {"cpu": "100m", "memory": "128Mi"}}}
    if volumes:
        container["volumeMounts"] = [{"name": v["name"], "mountPath": f"/data/{v['name']}"} for v in volumes]
    spec = {"nodeName": node, "containers": [container], "restartPolicy": "Always" if phase == "Running" else "Never",
            "schedulerName": "default-scheduler", "serviceAccountName": "default",
            "terminationGracePeriodSeconds": grace}
    if volumes:
        spec["volumes"] = volumes
    if tolerations:
        spec["tolerations"] = tolerations
    container_state = ({"running": {"startedAt": started}} if phase == "Running" else
                       {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started,
                                       "finishedAt": started}})
    status = {
        "phase": phase, "hostIP": "", "podIP": f"10.{100 + ip_index // 65000}.{ip_index // 250 % 256}."
                                                f"{ip_index % 250 + 1}",
        "startTime": started,
        "conditions": [{"type": t, "status": ready if t in ("Ready", "ContainersReady") else "True",
                        "lastProbeTime": None, "lastTransitionTime": started}
                       for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
        "containerStatuses": [{"name": container["name"], "image": image, "imageID": "", "ready": ready == "True",
                               "restartCount": 0, "started": phase == "Running", "state": container_state}],
    }
    return {"metadata": meta, "spec": spec, "status": status}


def app_resources(app: str) -> dict:
    """Requests and limits of an app's containers: varied by app, from its name (the seeded sequence of the
    cluster is left as it is)."""
    pick = random.Random(app)
    cpu = pick.choice((250, 500, 1000, 1500, 2000))
    memory = pick.choice((512, 1024, 2048, 4096, 6144))
    return {"requests": {"cpu": f"{cpu}m", "memory": f"{memory}Mi"},
            "limits": {"cpu": f"{cpu * 2}m", "memory": f"{memory * 2}Mi"}}


def generate(store: Store, nodes: int = 50, seed: int = 0) -> dict:
    """Fill the store; returns a summary (names of interesting nodes) for logs and tests."""
    g = Generator(seed)
    summary = {"control_plane": [], "workers": [], "gpu": [], "not_ready": []}
    for ns in NAMESPACE_NAMES:
        store.create(NAMESPACES, {"metadata": {"name": ns, "uid": g.uid(), "creationTimestamp": g.stamp(400, 400),
                                               "labels": {"kubernetes.io/metadata.name": ns}},
                                  "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    n_cp = min(3, nodes)
    n_workers = nodes - n_cp
    width = max(4, len(str(n_workers)))
    node_objs = []
    for i in range(n_cp):
        node_objs.append(make_node(g, f"control-plane-{i + 1}", i, control_plane=True))
        summary["control_plane"].append(node_objs[-1]["metadata"]["name"])
    gpu_every = 12
    for i in range(n_workers):
        name = f"worker-{i + 1:0{width}d}"
        gpu = GPU_TYPES[(i // gpu_every) % 2] if i % gpu_every == gpu_every - 1 else None
        ready = "True"
        if n_workers >= 8 and i % 29 == 13:
            ready = "False" if (i // 29) % 2 == 0 else "Unknown"
        node_objs.append(make_node(g, name, n_cp + i, gpu=gpu, ready=ready))
        summary["workers"].append(name)
        if gpu:
            summary["gpu"].append(name)
        if ready != "True":
            summary["not_ready"].append(name)
    for node in node_objs:
        store.create(NODES, node)
        name, born = node["metadata"]["name"], node["metadata"]["creationTimestamp"]
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        events.record(store, events.node_event(name, "RegisteredNode", f"Node {name} event: Registered Node "
                                               f"{name} in Controller", events.NODE_CONTROLLER, when=born,
                                               uid=uuid.uuid5(uuid.NAMESPACE_DNS, f"registered.{name}").hex))
        if ready["status"] != "True":
            events.record(store, events.node_event(name, "NodeNotReady", f"Node {name} status is now: NodeNotReady",
                                                   events.NODE_CONTROLLER, when=ready["lastTransitionTime"],
                                                   uid=uuid.uuid5(uuid.NAMESPACE_DNS, f"notready.{name}").hex))

    ip = [0]

    def add_pod(pod):
        ip[0] += 1
        store.create(PODS, pod)

    everywhere = [{"operator": "Exists"}]
    daemonsets = []
    for ds_name, ns, image in (("kube-proxy", "kube-system", "registry.k8s.io/kube-proxy:v1.31.0"),
                               ("node-exporter", "monitoring", "quay.io/prometheus/node-exporter:v1.8.1")):
        ds = {"metadata": {"name": ds_name, "namespace": ns, "uid": g.uid(), "creationTimestamp": g.stamp(300, 300),
                           "labels": {"app": ds_name}},
              "spec": {"selector": {"matchLabels": {"app": ds_name}},
                       "template": {"metadata": {"labels": {"app": ds_name}},
                                    "spec": {"containers": [{"name": ds_name, "image": image}],
                                             "tolerations": everywhere}}},
              "status": {"currentNumberScheduled": nodes, "desiredNumberScheduled": nodes, "numberReady": nodes,
                         "numberMisscheduled": 0, "observedGeneration": 1}}
        store.create(DAEMONSETS, ds)
        daemonsets.append((ds_name, ns, image, ds["metadata"]["uid"]))
    for node in node_objs:
        node_name = node["metadata"]["name"]
        for ds_name, ns, image, ds_uid in daemonsets:
            add_pod(make_pod(g, f"{ds_name}-{g.suffix()}", ns, node_name,
                             labels={"app": ds_name, "controller-revision-hash": g.suffix(10)},
                             owner=("apps/v1", "DaemonSet", ds_name, ds_uid), image=image, tolerations=everywhere,
                             grace=30, ip_index=ip[0]))
    for cp in summary["control_plane"]:
        node_uid = next(n["metadata"]["uid"] for n in node_objs if n["metadata"]["name"] == cp)
        for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            add_pod(make_pod(g, f"{component}-{cp}", "kube-system", cp,
                             labels={"component": component, "tier": "control-plane"},
                             owner=("v1", "Node", cp, node_uid),
                             annotations={"kubernetes.io/config.mirror": g.uid().replace("-", "")[:32],
                                          "kubernetes.io/config.source": "file"},
                             image=f"registry.k8s.io/{component}:v1.31.0", ip_index=ip[0]))

    schedulable = [n["metadata"]["name"] for n in node_objs
                   if n["metadata"]["name"] in summary["workers"] and n["metadata"]["name"] not in summary["gpu"]
                   and n["metadata"]["name"] not in summary["not_ready"]] or summary["workers"] or summary[
        "control_plane"]
    n_apps = max(len(APPS), n_workers // 5)
    for a in range(n_apps):
        base, ns, replicas, pdb, empty_dir = APPS[a % len(APPS)]
        name = base if a < len(APPS) else f"{base}-{a // len(APPS)}"
        labels = {"app": name}
        rs_hash = g.suffix(10)
        rs_name = f"{name}-{rs_hash}"
        rs_uid = g.uid()
        store.create(REPLICASETS, {
            "metadata": {"name": rs_name, "namespace": ns, "uid": rs_uid, "creationTimestamp": g.stamp(100, 10),
                         "labels": dict(labels, **{"pod-template-hash": rs_hash})},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels, **{"pod-template-hash": rs_hash})},
                     "template": {"metadata": {"labels": dict(labels, **{"pod-template-hash": rs_hash})},
                                  "spec": dict({"containers": [{"name": base, "image": f"registry.local/{base}:2.3",
                                                                "resources": app_resources(name)}]},
                                               **({"volumes": [{"name": "scratch", "emptyDir": {}}]} if empty_dir
                                                  else {}))}},
            "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                       "observedGeneration": 1}})
        volumes = [{"name": "scratch", "emptyDir": {}}] if empty_dir else None
        hosts = g.rng.sample(schedulable, min(replicas, len(schedulable))) if schedulable else []
        for r in range(replicas):
            host = hosts[r % len(hosts)] if hosts else None
            add_pod(make_pod(g, f"{rs_name}-{g.suffix()}", ns, host,
                             labels=dict(labels, **{"pod-template-hash": rs_hash}),
                             owner=("apps/v1", "ReplicaSet", rs_name, rs_uid), volumes=volumes,
                             image=f"registry.local/{base}:2.3", grace=30, ip_index=ip[0],
                             resources=app_resources(name)))
        if pdb:
            store.create(PDBS, {"metadata": {"name": f"{name}-pdb", "namespace": ns, "uid": g.uid(),
                                             "creationTimestamp": g.stamp(100, 10)},
                                "spec": {pdb[0]: pdb[1], "selector": {"matchLabels": labels}},
                                "status": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
                                           "expectedPods": 0}})
    # a few unmanaged pods and finished Job pods
    for i in range(max(2, n_workers // 25)):
        if not schedulable:
            break
        host = schedulable[(i * 7) % len(schedulable)]
        add_pod(make_pod(g, f"debug-shell-{i + 1}", "default", host, labels={"run": f"debug-shell-{i + 1}"},
                         image="registry.local/toolbox:1.0", grace=5, ip_index=ip[0]))
        add_pod(make_pod(g, f"report-{g.suffix()}", "batch", host, labels={"job-name": "nightly-report"},
                         owner=("batch/v1", "Job", "nightly-report", g.uid()), phase="Succeeded", ip_index=ip[0]))
    summary["pods"] = len(store.objects["pods"])
    return summary
