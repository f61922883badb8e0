"""Reads: nodes of a cluster as NodeInfo, one node with its pods, and the targets of a batch."""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.core.exceptions import ValidationError

from .kube import KubeError
from .kube import client as kube_client
from .kube import nodes as node_ops
from .kube.nodes import ANN_AT, ANN_BY, ANN_REASON
from .validation import selector_error

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
    created: datetime | None = None
    resource_version: str = ""
    pod_count: int | None = None
    cordon_reason: str = ""
    cordoned_by: str = ""
    cordoned_at: str = ""
    pods: list[dict] | None = None

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

    def taint_strings(self) -> list[str]:
        return [f"{t.get('key')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect')}" for t in self.taints]


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


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
    }


def _check_selector(selector: str):
    if selector and selector_error(selector):
        raise ValidationError(f"invalid label selector {selector!r}: {selector_error(selector)}")


class NodeList(list):
    """NodeInfo objects; the pod counts of the whole cluster by node name they were given (pod_counts), or why
    the counts are missing (pods_error)."""

    pod_counts: dict[str, int] | None = None
    pods_error: str = ""


def list_nodes(cluster, *, label_selector: str = "", field_selector: str = "", with_pod_counts: bool = False,
               known_pod_counts: dict[str, int] | None = None) -> NodeList:
    """Nodes of `cluster` (sorted by name). Raises ValidationError for a bad selector, KubeError on API errors.

    with_pod_counts: also one cluster-wide list of the pods that are not finished (status.phase is neither
    Succeeded nor Failed, as `kubectl describe node` counts them), read in a second thread while the nodes are
    read, and counted into NodeInfo.pod_count by spec.nodeName. If the pods cannot be read (for instance the
    credentials may list nodes but not pods), the nodes are still returned, pod_count stays None and
    `pods_error` of the result says why. known_pod_counts: counts already at hand (node name -> count), used
    instead of reading the pods.
    """
    _check_selector(label_selector)
    kube = kube_client.for_cluster(cluster)
    read_pods = with_pod_counts and known_pod_counts is None
    pool = ThreadPoolExecutor(max_workers=1) if read_pods else None
    try:
        counts = pool.submit(node_ops.pod_counts, kube) if pool else None
        objs = node_ops.list_nodes(kube, label_selector=label_selector, field_selector=field_selector)
        infos = NodeList(sorted((node_info(o) for o in objs), key=lambda n: n.name))
        infos.pod_counts = known_pod_counts
        if counts is not None:
            try:
                infos.pod_counts = counts.result()
            except KubeError as exc:
                infos.pods_error = f"pods could not be read: {exc}"
                log.warning("pod counts of cluster %s: %s", cluster.name, exc)
        if infos.pod_counts is not None:
            for info in infos:
                info.pod_count = infos.pod_counts.get(info.name, 0)
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
    return infos


# ---- Short-lived per-process caches of what the node pages read ---------------------------------------------
#
# Node lists: (cluster, label selector) -> the NodeInfo list of one node list call. An entry is used while it is
# younger than NODE_CACHE_SECONDS and no node mutation happened since it was filled: every mutation (ours, in any
# process) writes an AuditEntry, so the newest AuditEntry id is the mark compared on each read (one indexed
# query).
#
# Pod counts: cluster -> the pod count of each node, from one cluster-wide pod list (the costly read of a large
# cluster). An entry is used while it is younger than POD_CACHE_SECONDS and no mutation that moves pods happened
# in the cluster since it was filled: a drain (even a failed one may have evicted some pods) or a taint that puts
# a NoExecute taint on a node. Labels, other taints, cordon and uncordon move no pod: after them the node list is
# read again, the pod counts are not. Pods that come and go without such a mutation of ours show within
# POD_CACHE_SECONDS.
#
# Cached objects are shared between requests: readers must not modify them.

NODE_CACHE_SECONDS = 10.0
NODE_CACHE_ENTRIES = 4
POD_CACHE_SECONDS = 30.0
_cache: dict[tuple, tuple[float, object, NodeList]] = {}
_pod_cache: dict[tuple, tuple[float, object, dict[str, int]]] = {}  # cluster key -> (filled at, mark, counts)
_cache_lock = threading.Lock()


def _mutation_mark():
    from .models import AuditEntry

    return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first()


def _cluster_key(cluster) -> tuple:
    return (cluster.pk, cluster.name, str(getattr(cluster, "updated_at", "")))


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


def _cached_pod_counts(cluster, mark, now: float) -> dict[str, int] | None:
    """The cached pod counts of `cluster` while they hold (see above), else None."""
    key = _cluster_key(cluster)
    with _cache_lock:
        hit = _pod_cache.get(key)
    if hit is None or now - hit[0] >= POD_CACHE_SECONDS:
        return None
    filled, seen, counts = hit
    if seen != mark:
        moved = _pods_moved(cluster, seen, mark)
        with _cache_lock:
            if _pod_cache.get(key) is hit:  # else another request has just filled it again
                if moved:
                    del _pod_cache[key]
                else:  # the entries up to `mark` moved no pod: the next read need not look at them again
                    _pod_cache[key] = (filled, mark, counts)
        if moved:
            return None
    return counts


def cached_nodes(cluster, *, label_selector: str = "") -> NodeList:
    """list_nodes(cluster, label_selector=…, with_pod_counts=True) served from the caches while they hold."""
    _check_selector(label_selector)
    key = (*_cluster_key(cluster), label_selector)
    mark = _mutation_mark()
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and now - hit[0] < NODE_CACHE_SECONDS and hit[1] == mark:
        return hit[2]
    counts = _cached_pod_counts(cluster, mark, now)
    nodes = list_nodes(cluster, label_selector=label_selector, with_pod_counts=True, known_pod_counts=counts)
    with _cache_lock:
        _cache[key] = (now, mark, nodes)
        while len(_cache) > NODE_CACHE_ENTRIES:
            _cache.pop(min(_cache, key=lambda k: _cache[k][0]))
        if counts is None and nodes.pod_counts is not None:
            _pod_cache[_cluster_key(cluster)] = (now, mark, nodes.pod_counts)
    return nodes


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
        raise ValidationError("no node selected")
    _refuse_unknown(cluster, wanted, {n.name for n in cached_nodes(cluster)})
    return wanted


def _fold_names(names: list[str]) -> list[str]:
    """Node names stripped, blanks and duplicates dropped, order kept."""
    return list(dict.fromkeys(n.strip() for n in names if isinstance(n, str) and n.strip()))


def _refuse_unknown(cluster, wanted: list[str], known: set[str]) -> None:
    unknown = [n for n in wanted if n not in known]
    if unknown:
        shown = ", ".join(unknown[:5]) + (", …" if len(unknown) > 5 else "")
        raise ValidationError(f"{len(unknown)} of {len(wanted)} node name(s) unknown in cluster {cluster.name}: "
                              f"{shown}")


def invalidate_nodes(cluster=None) -> None:
    """Forget the cached node lists of `cluster` (all clusters when None) in this process.

    The pod counts stay: they are dropped when a mutation that moves pods is recorded (see above). With no
    cluster, everything cached is forgotten, pod counts too."""
    with _cache_lock:
        for key in [k for k in _cache if cluster is None or k[0] == cluster.pk]:
            del _cache[key]
        if cluster is None:
            _pod_cache.clear()


def get_node(cluster, name: str) -> NodeInfo:
    """One node with all the pods on it (pod_count leaves finished ones out, as the node list does).

    Raises NodeNotFound (a KubeError) when the node does not exist."""
    kube = kube_client.for_cluster(cluster)
    try:
        obj = node_ops.get_node(kube, name)
    except KubeError as exc:
        if exc.status == 404:
            raise NodeNotFound(f"node {name!r} not found in cluster {cluster.name}", status=404,
                               reason="NotFound") from None
        raise
    info = node_info(obj)
    pods = node_ops.list_pods_on_node(kube, name)
    info.pods = sorted((pod_summary(p) for p in pods), key=lambda p: (p["namespace"], p["name"]))
    info.pod_count = sum(1 for p in info.pods if p["phase"] not in FINISHED_PHASES)  # as the node list counts
    return info


def resolve_targets(cluster, *, names: list[str] | None = None, selector: str | None = None,
                    all_nodes: bool = False) -> list[str]:
    """Node names a batch acts on, resolved once at the start.

    Explicit names are checked against ONE list call (not one GET per name): unknown names raise a
    ValidationError that says how many are unknown and names the first few. Duplicates are folded,
    order kept.
    """
    chosen = sum(1 for x in (names is not None, bool(selector), all_nodes) if x)
    if chosen != 1:
        raise ValidationError("choose exactly one of: node names, a label selector, all nodes")
    kube = kube_client.for_cluster(cluster)
    if names is not None:
        wanted = _fold_names(names)
        if not wanted:
            raise ValidationError("no node names given")
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
            raise ValidationError(f"no node matches the selector {selector!r}")
        return found
    found = sorted(o["metadata"]["name"] for o in node_ops.list_nodes(kube))
    if not found:
        raise ValidationError(f"cluster {cluster.name} has no nodes")
    return found
