"""Reads: nodes of a cluster as NodeInfo, one node with its pods, and the targets of a batch."""

import copy
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from . import watch
from .kube import KubeError, quantity
from .kube import client as kube_client
from .kube import metrics as kube_metrics
from .kube import nodes as node_ops
from .kube.nodes import ANN_AT, ANN_BY, ANN_REASON
from .validation import check_node_names, parse_selector, selector_error

log = logging.getLogger(__name__)

ROLE_PREFIX = "node-role.kubernetes.io/"
GPU_SUFFIX = "/gpu"
FINISHED_PHASES = ("Succeeded", "Failed")  # node_ops.ACTIVE_PODS leaves these out


class NodeNotFound(KubeError):
    pass


@dataclass
class NodeInfo:
    name: str
    status: str  # Ready / NotReady / Unknown
    schedulable: bool
    roles: list[str] = field(default_factory=list)
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    taints: list[dict] = field(default_factory=list)
    conditions: list[dict] = field(default_factory=list)
    addresses: dict = field(default_factory=dict)
    capacity: dict = field(default_factory=dict)
    allocatable: dict = field(default_factory=dict)
    gpus: dict = field(default_factory=dict)
    kubelet_version: str = ""
    os: str = ""
    arch: str = ""
    os_image: str = ""
    container_runtime: str = ""
    kernel_version: str = ""
    kube_proxy_version: str = ""
    pod_cidr: str = ""
    provider_id: str = ""
    created: datetime | None = None
    resource_version: str = ""
    pod_count: int | None = None
    cordon_reason: str = ""
    cordoned_by: str = ""
    cordoned_at: str = ""
    pods: list[dict] | None = None
    # parsed quantities: cores and bytes (None when the node does not say)
    cpu_capacity: float | None = None
    memory_capacity: float | None = None
    cpu_allocatable: float | None = None
    memory_allocatable: float | None = None
    pods_allocatable: int | None = None
    # sums over the pods that are not finished (None when the pods could not be read)
    cpu_requests: float | None = None
    memory_requests: float | None = None
    cpu_limits: float | None = None
    memory_limits: float | None = None
    # from metrics.k8s.io (None when the cluster has no metrics API or has no sample of this node)
    cpu_usage: float | None = None
    memory_usage: float | None = None
    pods_pending: bool = False  # pod_count and requests are being read

    @property
    def finished_pod_count(self) -> int:
        """Pods on the node that have finished (only known when `pods` was read, on the detail page)."""
        return sum(1 for p in self.pods or () if p["phase"] in FINISHED_PHASES)

    @property
    def age_seconds(self) -> float | None:
        if self.created is None:
            return None
        return (datetime.now(UTC) - self.created).total_seconds()

    @property
    def internal_ip(self) -> str:
        return self.addresses.get("InternalIP", "")

    @property
    def cpu_requests_pct(self) -> int | None:
        return quantity.percent(self.cpu_requests, self.cpu_allocatable)

    @property
    def memory_requests_pct(self) -> int | None:
        return quantity.percent(self.memory_requests, self.memory_allocatable)

    @property
    def cpu_usage_pct(self) -> int | None:
        return quantity.percent(self.cpu_usage, self.cpu_allocatable)

    @property
    def memory_usage_pct(self) -> int | None:
        return quantity.percent(self.memory_usage, self.memory_allocatable)

    @property
    def ready_condition(self) -> dict:
        return next((c for c in self.conditions if c.get("type") == "Ready"), {})

    def taint_strings(self) -> list[str]:
        return [f"{t.get('key')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect')}" for t in self.taints]


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _int(value) -> int | None:
    number = quantity.parse(value)
    return int(number) if number is not None else None


def node_info(obj: dict) -> NodeInfo:
    md = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    labels = md.get("labels") or {}
    annotations = md.get("annotations") or {}
    conditions = status.get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    state = "Unknown"
    if ready is not None:
        state = {"True": "Ready", "False": "NotReady"}.get(ready.get("status"), "Unknown")
    roles = sorted(k[len(ROLE_PREFIX):] for k in labels if k.startswith(ROLE_PREFIX) and k[len(ROLE_PREFIX):])
    if not roles and labels.get("kubernetes.io/role"):
        roles = [labels["kubernetes.io/role"]]
    capacity = status.get("capacity") or {}
    allocatable = status.get("allocatable") or {}
    gpus = {k: v for k, v in capacity.items() if k.endswith(GPU_SUFFIX)}
    info = status.get("nodeInfo") or {}
    return NodeInfo(
        name=md.get("name", ""),
        status=state,
        schedulable=not spec.get("unschedulable"),
        roles=roles,
        labels=labels,
        annotations=annotations,
        taints=list(spec.get("taints") or []),
        conditions=conditions,
        addresses={a.get("type"): a.get("address") for a in status.get("addresses") or []},
        capacity=capacity,
        allocatable=allocatable,
        gpus=gpus,
        kubelet_version=info.get("kubeletVersion", ""),
        os=info.get("operatingSystem", "") or labels.get("kubernetes.io/os", ""),
        arch=info.get("architecture", "") or labels.get("kubernetes.io/arch", ""),
        os_image=info.get("osImage", ""),
        container_runtime=info.get("containerRuntimeVersion", ""),
        kernel_version=info.get("kernelVersion", ""),
        kube_proxy_version=info.get("kubeProxyVersion", ""),
        pod_cidr=spec.get("podCIDR", ""),
        provider_id=spec.get("providerID", ""),
        cpu_capacity=quantity.parse(capacity.get("cpu")),
        memory_capacity=quantity.parse(capacity.get("memory")),
        cpu_allocatable=quantity.parse(allocatable.get("cpu")),
        memory_allocatable=quantity.parse(allocatable.get("memory")),
        pods_allocatable=_int(allocatable.get("pods")),
        created=_time(md.get("creationTimestamp")),
        resource_version=md.get("resourceVersion", ""),
        cordon_reason=annotations.get(ANN_REASON, ""),
        cordoned_by=annotations.get(ANN_BY, ""),
        cordoned_at=annotations.get(ANN_AT, ""),
    )


def pod_summary(pod: dict) -> dict:
    from .kube.drain import MIRROR_ANNOTATION, controller_of

    md = pod.get("metadata") or {}
    status = pod.get("status") or {}
    ctrl = controller_of(pod)
    restarts = sum(int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or [])
    return {
        "namespace": md.get("namespace", ""), "name": md.get("name", ""), "phase": status.get("phase", ""),
        "owner_kind": ctrl.get("kind", "") if ctrl else "", "owner_name": ctrl.get("name", "") if ctrl else "",
        "mirror": MIRROR_ANNOTATION in (md.get("annotations") or {}),
        "emptydir": any("emptyDir" in (v or {}) for v in (pod.get("spec") or {}).get("volumes") or []),
        "terminating": bool(md.get("deletionTimestamp")), "restarts": restarts,
        "created": _time(md.get("creationTimestamp")), "pod_ip": status.get("podIP", ""),
        "containers": len((pod.get("spec") or {}).get("containers") or []),
        "ready": sum(1 for c in status.get("containerStatuses") or [] if c.get("ready")),
        **node_ops.pod_resources(pod),
    }


def _check_selector(selector: str):
    if selector and selector_error(selector):
        raise ValidationError(_("invalid label selector %(selector)s: %(error)s") % {
            "selector": repr(selector), "error": selector_error(selector)})


class NodeList(list):
    """NodeInfo objects, and what the page says about where they came from: the pod counts of the whole cluster
    by node name (pod_counts) or why they are missing (pods_error); whether the cluster serves metrics.k8s.io
    (has_metrics) or why usage is missing (metrics_error); the list's resourceVersion; and, when a watch keeps
    the nodes current, its version (live_version)."""

    pod_counts: dict[str, int] | None = None
    pod_load: dict[str, dict] | None = None
    pods_error: str = ""
    pods_pending: bool = False  # the pods are being read: their counts follow
    has_metrics: bool | None = None
    metrics_error: str = ""
    resource_version: str = ""
    live_version: int = 0
    counts: dict | None = None

    def derived(self, items) -> "NodeList":
        out = NodeList(items)
        out.__dict__.update({k: v for k, v in self.__dict__.items() if not k.startswith("_")})  # memos stay
        return out


@dataclass(frozen=True)
class PodLoad:
    counts: dict[str, int]
    load: dict[str, dict]


_LOAD_KEYS = ("cpu_requests", "memory_requests", "cpu_limits", "memory_limits")


def _apply_pods(infos, pods: PodLoad | None) -> None:
    if pods is None:
        return
    for info in infos:
        info.pod_count = pods.counts.get(info.name, 0)
        load = pods.load.get(info.name)
        for key in _LOAD_KEYS:
            setattr(info, key, load[key] if load else 0.0)


def _apply_usage(infos, usage: dict | None) -> None:
    if not usage:
        return
    for info in infos:
        sample = usage.get(info.name)
        if sample:
            info.cpu_usage, info.memory_usage = sample["cpu"], sample["memory"]


def _read_pods(kube) -> PodLoad:
    counts, load = node_ops.pod_load(kube)
    return PodLoad(counts, load)


def list_nodes(cluster, *, label_selector: str = "", field_selector: str = "", with_pod_counts: bool = False,
               known_pods: PodLoad | None = None) -> NodeList:
    """Nodes of `cluster` (sorted by name). Raises ValidationError for a bad selector, KubeError on API errors.

    with_pod_counts: also one cluster-wide list of the pods that are not finished (status.phase is neither
    Succeeded nor Failed, as `kubectl describe node` counts them), read in a second thread while the nodes are
    read, counted into NodeInfo.pod_count by spec.nodeName, with the sums of their requests and limits. If the
    pods cannot be read (for instance the credentials may list nodes but not pods), the nodes are still returned,
    pod_count stays None and `pods_error` of the result says why. known_pods: pod counts already at hand, used
    instead of reading the pods.
    """
    _check_selector(label_selector)
    kube = kube_client.for_cluster(cluster)
    read_pods = with_pod_counts and known_pods is None
    pool = ThreadPoolExecutor(max_workers=1) if read_pods else None
    try:
        pending = pool.submit(_read_pods, kube) if pool else None
        doc_rv = [""]

        def nodes():
            if label_selector or field_selector:
                return node_ops.list_nodes(kube, label_selector=label_selector, field_selector=field_selector)
            items, doc_rv[0] = watch_list(kube)
            return items

        infos = NodeList(sorted((node_info(o) for o in nodes()), key=lambda n: n.name))
        infos.resource_version = doc_rv[0]
        pods = known_pods
        if pending is not None:
            try:
                pods = pending.result()
            except KubeError as exc:
                infos.pods_error = _("pods could not be read: %(error)s") % {"error": exc}
                log.warning("pod counts of cluster %s: %s", cluster.name, exc)
        if pods is not None:
            infos.pod_counts, infos.pod_load = pods.counts, pods.load
            _apply_pods(infos, pods)
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
    return infos


def watch_list(kube) -> tuple[list, str]:
    from .kube.watch import list_with_version

    return list_with_version(kube, watch.NODES_PATH, chunk=node_ops.LIST_CHUNK)


# ---- Label selectors, matched here against the cached nodes ------------------------------------------------

def selector_matcher(selector: str):
    """A predicate on a labels dict for a label selector (Kubernetes' semantics); raises ValidationError."""
    _check_selector(selector)
    if not selector.strip():
        return lambda labels: True
    reqs = [(op, key, set(values)) for op, key, values in parse_selector(selector)]

    def matches(labels: dict) -> bool:
        for op, key, values in reqs:
            present = key in labels
            if op == "exists":
                ok = present
            elif op == "!":
                ok = not present
            elif op in ("=", "in"):
                ok = present and labels[key] in values
            else:  # "!=", "notin": true when the key is absent
                ok = not present or labels[key] not in values
            if not ok:
                return False
        return True

    return matches


# ---- Filters and sort orders of the node pages ---------------------------------------------------------------

STATUS_ORDER = {"Unknown": 0, "NotReady": 1, "Ready": 2}  # what needs attention first


def node_filter(q: str = "", status: str = "", role: str = "", taint: str = "", selector: str = ""):
    """A predicate on NodeInfo for the node pages' filters (all of them must hold); raises ValidationError for an
    invalid selector."""
    labels_ok = selector_matcher(selector)
    needle = q.lower()

    def keep(n) -> bool:
        if needle and needle not in n.name.lower():
            return False
        if status == "cordoned":
            if n.schedulable:
                return False
        elif status and n.status != status:
            return False
        if role and role not in n.roles:
            return False
        if taint == "any" and not n.taints:
            return False
        if taint == "none" and n.taints:
            return False
        if taint and taint not in ("any", "none") and not any(t.get("key") == taint for t in n.taints):
            return False
        return labels_ok(n.labels)

    return keep


def _missing_last(value, reverse: bool):
    return (value is None, -value if (value is not None and reverse) else value)


SORTS = {
    "name": lambda n: n.name,
    "status": lambda n: (STATUS_ORDER.get(n.status, 0), n.schedulable, n.name),
    "roles": lambda n: (",".join(n.roles), n.name),
    "version": lambda n: (n.kubelet_version, n.name),
    "age": lambda n: (n.created is None, n.created.timestamp() if n.created else 0, n.name),
    "pods": lambda n: (n.pod_count is None, -(n.pod_count or 0), n.name),  # most pods first
    "cpu": lambda n: (_busy(n.cpu_usage_pct, n.cpu_requests_pct), n.name),
    "memory": lambda n: (_busy(n.memory_usage_pct, n.memory_requests_pct), n.name),
}
SORT_LABELS = {"name": "name", "status": "status (needs attention first)", "roles": "roles", "version": "version",
               "age": "age (oldest first)", "pods": "pods (most first)", "cpu": "CPU (busiest first)",
               "memory": "memory (busiest first)"}


def _busy(usage_pct, requests_pct) -> tuple:
    """Busiest first: by usage when known, else by requests; nodes with neither last."""
    value = usage_pct if usage_pct is not None else requests_pct
    return (value is None, -(value or 0))


def sort_nodes(nodes, sort: str) -> list:
    """Sorted by `sort` (a key of SORTS, "-" in front reverses it)."""
    reverse = sort.startswith("-")
    key = SORTS.get(sort.lstrip("-"), SORTS["name"])
    return sorted(nodes, key=key, reverse=reverse)


# ---- Short-lived per-process caches of what the node pages read ---------------------------------------------
#
# Nodes: while a watch of the cluster runs in this process (nodes.watch; a page read starts one), the nodes are
# its state, current within the watch's latency; every node page read then costs no API call. Without a live
# watch, or when a mutation of ours was recorded and the watch has heard nothing from the server for a while,
# the nodes are listed again (and the watch is seeded or resynchronised with that list). A listed entry is used
# while it is younger than NODE_CACHE_SECONDS and no node mutation happened since it was filled: every mutation
# (ours, in any process) writes an AuditEntry, so the newest AuditEntry id is the mark compared on each read
# (one indexed query).
#
# Pod counts (and requests): cluster -> the pod count of each node, from one cluster-wide pod list (the costly
# read of a large cluster). An entry is used while it is younger than POD_CACHE_SECONDS and no mutation that
# moves pods happened in the cluster since it was filled: a drain (even a failed one may have evicted some pods)
# or a taint that puts a NoExecute taint on a node. Labels, other taints, cordon and uncordon move no pod: after
# them the node list is read again, the pod counts are not. Pods that come and go without such a mutation of ours
# show within POD_CACHE_SECONDS (older counts are still shown, up to POD_STALE_SECONDS, while a background read
# replaces them: a page read never waits for the pods of a large cluster just because time passed).
#
# Usage (metrics.k8s.io): cluster -> usage by node, used while younger than METRICS_CACHE_SECONDS; older ones are
# still shown (up to METRICS_STALE_SECONDS) while a background read replaces them.
#
# Cached objects are shared between requests: readers must not modify them.

NODE_CACHE_SECONDS = 10.0
NODE_CACHE_ENTRIES = 4
POD_CACHE_SECONDS = 30.0
POD_STALE_SECONDS = 120.0  # older counts are shown while a background read replaces them, up to this age
POD_WAIT_NODES = 1000  # larger clusters' pages do not wait for their pods: the counts follow (live) when read
METRICS_CACHE_SECONDS = 15.0
METRICS_STALE_SECONDS = 120.0
METRICS_ABSENT_SECONDS = 300.0  # a cluster without metrics-server is asked again after this
_cache: dict[tuple, tuple[float, object, NodeList]] = {}
_pod_cache: dict[tuple, tuple[float, object, PodLoad]] = {}  # cluster key -> (filled at, mark, pods)
_metrics_cache: dict[tuple, tuple[float, dict | None, str]] = {}  # cluster key -> (read at, usage, error)
_metrics_refreshing: set = set()
_views: dict[tuple, tuple] = {}  # cluster key -> (sources, the NodeList made from them, the sources)
_cache_lock = threading.Lock()
_marks: dict[tuple, object] = {}  # cluster key -> the mutation mark of the last read


def _mutation_mark():
    from .models import AuditEntry

    return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first()


def _cluster_key(cluster) -> tuple:
    return watch.cluster_key(cluster)


def _pods_moved(cluster, since, until) -> bool:
    """Whether a mutation recorded in cluster's AuditEntries after id `since`, up to id `until`, may move pods."""
    from .models import AuditEntry

    if until is None or (since is not None and until < since):  # entries were removed: nothing to go by
        return True
    entries = AuditEntry.objects.filter(cluster_name=cluster.name, id__gt=since or 0, id__lte=until,
                                        action__in=("drain", "taint", "label"))  # label: a template's taints
    entries = entries.values_list("action", "before", "after")
    for action, before, after in entries:
        if action == "drain":
            return True
        old = set((before or {}).get("taints") or ())
        if any(t.endswith(":NoExecute") and t not in old for t in (after or {}).get("taints") or ()):
            return True
    return False


def _cached_pods(cluster, mark, now: float) -> PodLoad | None:
    """The cached pod counts of `cluster` while they hold (see above), else None."""
    key = _cluster_key(cluster)
    with _cache_lock:
        hit = _pod_cache.get(key)
    if hit is None or now - hit[0] >= POD_STALE_SECONDS:
        return None
    filled, seen, pods = hit
    if seen != mark:
        moved = _pods_moved(cluster, seen, mark)
        with _cache_lock:
            if _pod_cache.get(key) is hit:  # else another request has just filled it again
                if moved:
                    del _pod_cache[key]
                else:  # the entries up to `mark` moved no pod: the next read need not look at them again
                    _pod_cache[key] = (filled, mark, pods)
        if moved:
            return None
    if now - filled >= POD_CACHE_SECONDS:  # old, but no mutation of ours moved a pod: shown while read again
        _pods_read(cluster, key, mark).add_done_callback(lambda _f: _nudge(cluster))
    return pods


_pod_reader = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pod-counts")
_pod_reads: dict[tuple, object] = {}  # cluster key -> the Future of the read under way
_pod_errors: dict[tuple, str] = {}  # cluster key -> why the last read failed


def _pods_read(cluster, key, mark):
    """The read of the pods of `cluster` under way, or a new one (one at a time per cluster); its result is cached
    as soon as it is there, with the mark seen before it started."""
    with _cache_lock:
        future = _pod_reads.get(key)
        if future is not None:
            return future
        future = _pod_reads[key] = _pod_reader.submit(_read_pods_of, cluster, key, mark)
    return future


def _read_pods_of(cluster, key, mark) -> PodLoad:
    try:
        pods = _read_pods(kube_client.for_cluster(cluster))
    except KubeError as exc:
        log.warning("pod counts of cluster %s: %s", cluster.name, exc)
        with _cache_lock:
            _pod_errors[key] = f"pods could not be read: {exc}"
            _pod_reads.pop(key, None)
        raise
    with _cache_lock:
        _pod_cache[key] = (time.monotonic(), mark, pods)
        _pod_errors.pop(key, None)
        _pod_reads.pop(key, None)
    return pods


def _nudge(cluster) -> None:
    """Tell the open pages of `cluster` to read themselves again (pod counts arrived)."""
    live = watch.get(cluster)
    if live is not None:
        live.nudge()


def _read_usage(cluster, key) -> tuple[float, dict | None, str]:
    try:
        usage = kube_metrics.node_usage(kube_client.for_cluster(cluster))
        entry = (time.monotonic(), usage, "")
    except KubeError as exc:
        entry = (time.monotonic(), {}, f"usage could not be read: {exc}")
        log.warning("node usage of cluster %s: %s", cluster.name, exc)
    with _cache_lock:
        _metrics_cache[key] = entry
        _metrics_refreshing.discard(key)
    return entry


def _usage_entry(cluster, now: float, pool=None):
    """(entry or None, future): the cached usage while it holds; a stale one is used while a background read
    replaces it; with none usable, the read is started on `pool` (or done here when there is no pool)."""
    key = _cluster_key(cluster)
    with _cache_lock:
        hit = _metrics_cache.get(key)
    if hit is not None:
        age = now - hit[0]
        ttl = METRICS_ABSENT_SECONDS if hit[1] is None else METRICS_CACHE_SECONDS
        if age < ttl:
            return hit, None
        if hit[1] is not None and age < METRICS_STALE_SECONDS:
            with _cache_lock:
                start = key not in _metrics_refreshing
                _metrics_refreshing.add(key)
            if start:
                threading.Thread(target=_read_usage, args=(cluster, key), name="node-usage", daemon=True).start()
            return hit, None
    if pool is None:
        return _read_usage(cluster, key), None
    return None, pool.submit(_read_usage, cluster, key)


def cached_nodes(cluster, *, label_selector: str = "") -> NodeList:
    """Every node of `cluster` (those matching `label_selector`), with pod counts, requests and usage, served
    from the caches while they hold (see above)."""
    nodes = _every_node(cluster)
    if label_selector.strip():
        keep = selector_matcher(label_selector)
        return nodes.derived(n for n in nodes if keep(n.labels))
    return nodes


def _every_node(cluster) -> NodeList:
    key = _cluster_key(cluster)
    mark = _mutation_mark()
    now = time.monotonic()
    with _cache_lock:
        previous = _marks.get(key, mark)
        _marks[key] = mark
    pods = _cached_pods(cluster, mark, now)
    live = watch.get(cluster)
    pool = ThreadPoolExecutor(max_workers=3)
    try:
        usage, usage_future = _usage_entry(cluster, now, pool)
        use_watch = live is not None and live.fresh()
        if use_watch and previous != mark:
            use_watch = _catch_up(cluster, live, previous, mark, pool)
        if use_watch:
            version, base, rv = live.snapshot()
            base = NodeList(base)
            base.resource_version = rv
            source = ("watch", version)
        else:
            with _cache_lock:
                hit = _cache.get(key)
            if hit is not None and now - hit[0] < NODE_CACHE_SECONDS and hit[1] == mark:
                listed = hit[2]
            else:
                listed = list_nodes(cluster)
                with _cache_lock:
                    _cache[key] = (now, mark, listed)
                    while len(_cache) > NODE_CACHE_ENTRIES:
                        _cache.pop(min(_cache, key=lambda k: _cache[k][0]))
                _feed_watch(cluster, live, listed)
            base = listed
            version, source = 0, ("list", id(listed))
            live = watch.get(cluster)
            if live is not None and live.synced.is_set() and live.resource_version == listed.resource_version:
                version = live.version  # the watch starts from this very list
                source = ("watch", version)
        pods_error, pending = "", False
        if pods is None:  # read after the nodes: a large cluster's pods must not slow its node list down
            pods_future = _pods_read(cluster, key, mark)
            if len(base) <= POD_WAIT_NODES:
                try:
                    pods = pods_future.result()
                except KubeError as exc:
                    pods_error = _("pods could not be read: %(error)s") % {"error": exc}
            else:
                with _cache_lock:
                    pods_error = _pod_errors.get(key, "")
                pending = not pods_error
                pods_future.add_done_callback(lambda _f: _nudge(cluster))
        if usage_future is not None:
            usage = usage_future.result()
    finally:
        pool.shutdown(wait=False)
    return _view(key, base, source, pods, pods_error, usage, live, version, pending)


CATCH_UP_NODES = 20


def _catch_up(cluster, live, since, until, pool) -> bool:
    """Read your own writes: the nodes that mutations recorded since the last read (AuditEntry ids in
    (since, until]) touched are read again and handed to the watch, so a page read right after a change of ours
    shows it even if its watch event is still on its way. False when there are too many (or the records are gone):
    the caller lists every node instead."""
    from .models import AuditEntry

    if until is None or (since is not None and until < since):  # records were removed: nothing to go by
        return False
    names = list(AuditEntry.objects.filter(cluster_name=cluster.name, id__gt=since or 0, id__lte=until)
                 .order_by().values_list("node", flat=True).distinct()[:CATCH_UP_NODES + 1])
    if len(names) > CATCH_UP_NODES:
        return False
    if not names:
        return True
    kube = kube_client.for_cluster(cluster)

    def read(name):
        try:
            return node_info(node_ops.get_node(kube, name))
        except KubeError:
            return None  # gone, or unreadable: the watch says what happened

    live.merge([info for info in pool.map(read, names) if info is not None], "")
    return True


def with_known_load(cluster, info: NodeInfo) -> NodeInfo:
    """A copy of `info` with the pod counts, requests and usage already cached for its cluster (nothing is read:
    for the live updates)."""
    key = _cluster_key(cluster)
    with _cache_lock:
        pods = _pod_cache.get(key)
        usage = _metrics_cache.get(key)
    out = copy.copy(info)
    if pods is not None:
        _apply_pods([out], pods[2])
    if usage is not None:
        _apply_usage([out], usage[1])
    return out


def _feed_watch(cluster, live, listed: NodeList) -> None:
    """Start the watch from a list just read, or hand the list to a watch that could not be trusted alone."""
    if not listed.resource_version:
        return
    if live is None:
        watch.ensure(cluster, node_info, seed=listed, resource_version=listed.resource_version)
    else:
        live.merge(listed, listed.resource_version)


def _view(key, base, source, pods: PodLoad | None, pods_error: str, usage_entry, live, version,
          pods_pending: bool = False) -> NodeList:
    """The nodes as pages show them: copies of the base NodeInfos with pod counts, requests and usage; one per
    (nodes, pods, usage) combination, kept until one of them changes."""
    usage = usage_entry[1] if usage_entry else None
    sources = (source, id(pods), id(usage_entry), pods_error, pods_pending)
    with _cache_lock:
        hit = _views.get(key)
    if hit is not None and hit[0] == sources:
        return hit[1]
    out = NodeList(copy.copy(n) for n in base)
    _apply_pods(out, pods)
    if pods is None and pods_pending:
        for n in out:
            n.pods_pending = True
    out.pods_pending = pods_pending
    _apply_usage(out, usage)
    out.resource_version = getattr(base, "resource_version", "")
    out.pods_error = pods_error
    if pods is not None:
        out.pod_counts, out.pod_load = pods.counts, pods.load
    out.has_metrics = None if usage_entry is None else usage_entry[1] is not None
    out.metrics_error = usage_entry[2] if usage_entry else ""
    out.live_version = version
    out.counts = watch.status_counts(out)
    with _cache_lock:
        _views[key] = (sources, out, (pods, usage_entry, base))  # the sources kept alive: their ids stay theirs
    return out


def filter_nodes(nodes, q: str = "", status: str = "", role: str = "", taint: str = "") -> list:
    """The node list's filters: name contains q; status Ready/NotReady/Unknown or "cordoned"; a role; a taint key
    (or "any" / "none"). The same filters decide what "select all matching" acts on."""
    q, taint = (q or "").strip(), (taint or "").strip()
    if q:
        nodes = [n for n in nodes if q.lower() in n.name.lower()]
    if status == "cordoned":
        nodes = [n for n in nodes if not n.schedulable]
    elif status:
        nodes = [n for n in nodes if n.status == status]
    if role:
        nodes = [n for n in nodes if role in n.roles]
    if taint == "any":
        nodes = [n for n in nodes if n.taints]
    elif taint == "none":
        nodes = [n for n in nodes if not n.taints]
    elif taint:
        nodes = [n for n in nodes if any(t.get("key") == taint for t in n.taints)]
    return list(nodes)


def check_names(cluster, names: list[str]) -> list[str]:
    """Selected node names (duplicates folded, order kept) checked against the cached node list."""
    wanted = _fold_names(names)
    if not wanted:
        raise ValidationError(_("no node selected"))
    _refuse_unknown(cluster, wanted, {n.name for n in cached_nodes(cluster)})
    return wanted


def _fold_names(names: list[str]) -> list[str]:
    """Node names stripped, blanks and duplicates dropped, order kept; each checked as a node name."""
    return check_node_names(list(dict.fromkeys(n.strip() for n in names if isinstance(n, str) and n.strip())))


def _refuse_unknown(cluster, wanted: list[str], known: set[str]) -> None:
    unknown = [n for n in wanted if n not in known]
    if unknown:
        shown = ", ".join(unknown[:5]) + (", …" if len(unknown) > 5 else "")
        raise ValidationError(_("%(unknown)s of %(wanted)s node name(s) unknown in cluster %(cluster)s: %(names)s") % {
            "unknown": len(unknown), "wanted": len(wanted), "cluster": cluster.name, "names": shown})


def invalidate_nodes(cluster=None) -> None:
    """Forget the cached node lists of `cluster` (all clusters when None) in this process.

    The pod counts stay: they are dropped when a mutation that moves pods is recorded (see above). With no
    cluster, everything cached is forgotten, pod counts too."""
    with _cache_lock:
        for key in [k for k in _cache if cluster is None or k[0] == cluster.pk]:
            del _cache[key]
        if cluster is None:
            _pod_cache.clear()
            _metrics_cache.clear()
            _pod_errors.clear()
            _views.clear()
            _marks.clear()
    if cluster is None:
        watch.stop_all()


def get_node(cluster, name: str) -> NodeInfo:
    """One node with all the pods on it (pod_count leaves finished ones out, as the node list does).

    Raises NodeNotFound (a KubeError) when the node does not exist."""
    kube = kube_client.for_cluster(cluster)
    try:
        obj = node_ops.get_node(kube, name)
    except KubeError as exc:
        if exc.status == 404:
            raise NodeNotFound(_("node %(name)s not found in cluster %(cluster)s") % {
                "name": repr(name), "cluster": cluster.name}, status=404, reason="NotFound") from None
        raise
    info = node_info(obj)
    pods = node_ops.list_pods_on_node(kube, name)
    info.pods = sorted((pod_summary(p) for p in pods), key=lambda p: (p["namespace"], p["name"]))
    info.pod_count = sum(1 for p in info.pods if p["phase"] not in FINISHED_PHASES)  # as the node list counts
    return info


@dataclass
class NodeDetail:
    node: NodeInfo
    yaml: str
    events: list[dict] = field(default_factory=list)
    events_error: str = ""
    usage_error: str = ""
    has_metrics: bool = False


def _event_row(e: dict) -> dict:
    source = e.get("source") or {}
    last = e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp")
    return {"type": e.get("type", ""), "reason": e.get("reason", ""), "message": e.get("message", ""),
            "source": source.get("component") or e.get("reportingComponent") or "", "count": e.get("count") or 1,
            "first": _time(e.get("firstTimestamp") or last), "last": _time(last)}


def node_detail(cluster, name: str) -> NodeDetail:
    """A node as its detail page shows it: the node with its pods (their requests, limits and owners), the sums
    of what they request, its usage, its events and its YAML. The node, its pods, its events and the usage are
    read at once; events and usage that cannot be read are said to be missing, the rest is still shown.
    Raises NodeNotFound (a KubeError) when the node does not exist."""
    import yaml

    node_ops.node_path(name)  # a name that is not a node name: KubeError (400) before any call
    kube = kube_client.for_cluster(cluster)
    with ThreadPoolExecutor(max_workers=4) as pool:
        obj_f = pool.submit(node_ops.get_node, kube, name)
        pods_f = pool.submit(node_ops.list_pods_on_node, kube, name)
        events_f = pool.submit(node_ops.node_events, kube, name)
        usage_f = pool.submit(kube_metrics.node_usage, kube)
        try:
            obj = obj_f.result()
        except KubeError as exc:
            if exc.status == 404:
                raise NodeNotFound(_("node %(name)s not found in cluster %(cluster)s") % {
                    "name": repr(name), "cluster": cluster.name}, status=404, reason="NotFound") from None
            raise
        info = node_info(obj)
        info.pods = sorted((pod_summary(p) for p in pods_f.result()), key=lambda p: (p["namespace"], p["name"]))
        active = [p for p in info.pods if p["phase"] not in FINISHED_PHASES]
        info.pod_count = len(active)  # as the node list counts
        for key in _LOAD_KEYS:
            setattr(info, key, sum(p[key] for p in active))
        detail = NodeDetail(node=info, yaml="")
        try:
            detail.events = [_event_row(e) for e in events_f.result()]
        except KubeError as exc:
            detail.events_error = _("events could not be read: %(error)s") % {"error": exc}
        try:
            usage = usage_f.result()
            detail.has_metrics = usage is not None
            _apply_usage([info], usage)
        except KubeError as exc:
            detail.usage_error = _("usage could not be read: %(error)s") % {"error": exc}
    shown = copy.deepcopy(obj)
    (shown.get("metadata") or {}).pop("managedFields", None)
    detail.yaml = yaml.safe_dump(shown, sort_keys=False, default_flow_style=False, width=120)
    return detail


def resolve_targets(cluster, *, names: list[str] | None = None, selector: str | None = None,
                    all_nodes: bool = False) -> list[str]:
    """Node names a batch acts on, resolved once at the start.

    Explicit names are checked against ONE list call (not one GET per name): unknown names raise a
    ValidationError that says how many are unknown and names the first few. Duplicates are folded,
    order kept.
    """
    chosen = sum(1 for x in (names is not None, bool(selector), all_nodes) if x)
    if chosen != 1:
        raise ValidationError(_("choose exactly one of: node names, a label selector, all nodes"))
    kube = kube_client.for_cluster(cluster)
    if names is not None:
        wanted = _fold_names(names)
        if not wanted:
            raise ValidationError(_("no node names given"))
        if len(wanted) == 1:
            try:
                existing = {node_ops.get_node(kube, wanted[0])["metadata"]["name"]}
            except KubeError as exc:
                if exc.status != 404:
                    raise
                existing = set()
        else:
            existing = {o["metadata"]["name"] for o in node_ops.list_nodes(kube)}
        _refuse_unknown(cluster, wanted, existing)
        return wanted
    if selector:
        _check_selector(selector)
        found = sorted(o["metadata"]["name"] for o in node_ops.list_nodes(kube, label_selector=selector))
        if not found:
            raise ValidationError(_("no node matches the selector %(selector)s") % {"selector": repr(selector)})
        return found
    found = sorted(o["metadata"]["name"] for o in node_ops.list_nodes(kube))
    if not found:
        raise ValidationError(_("cluster %(cluster)s has no nodes") % {"cluster": cluster.name})
    return found


AUDIT_TEXT_FILTERS = (("user", "username__icontains"), ("cluster", "cluster_name"), ("node", "node__icontains"),
                      ("action", "action"))
AUDIT_DATE_FILTERS = (("since", "created_at__date__gte"), ("until", "created_at__date__lte"))


def audit_entries(filters):
    """Audit entries, newest first, filtered as the audit log page filters them (user and node: contains; since and
    until: dates YYYY-MM-DD, inclusive). ValidationError naming each filter that is not valid."""
    from django import forms

    from .models import AuditEntry

    lookups, errors = {}, []
    for name, lookup in AUDIT_TEXT_FILTERS:
        if filters.get(name):
            lookups[lookup] = filters[name][:300]
    for name, lookup in AUDIT_DATE_FILTERS:
        if filters.get(name):
            try:
                lookups[lookup] = forms.DateField(input_formats=["%Y-%m-%d"]).clean(filters[name])
            except ValidationError:
                errors.append(_("%(name)s: enter a valid date as YYYY-MM-DD") % {"name": name})
    if errors:
        raise ValidationError(errors)
    return AuditEntry.objects.filter(**lookups).order_by("-created_at", "-id")
