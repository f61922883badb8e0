"""The resource kinds the simulator serves, and where they live in the API."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    plural: str
    kind: str
    group: str  # "" = core
    versions: tuple
    namespaced: bool
    verbs: tuple
    short_names: tuple = ()
    has_generation: bool = False
    subresources: tuple = ()  # ("status",) etc.

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def api_version(self, version: str | None = None) -> str:
        version = version or self.versions[0]
        return f"{self.group}/{version}" if self.group else version


ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")

NODES = Resource("nodes", "Node", "", ("v1",), False, ALL_VERBS, ("no",), subresources=("status",))
PODS = Resource("pods", "Pod", "", ("v1",), True, ALL_VERBS, ("po",), subresources=("status", "eviction"))
NAMESPACES = Resource("namespaces", "Namespace", "", ("v1",), False, ("create", "delete", "get", "list", "watch"),
                      ("ns",))
PDBS = Resource("poddisruptionbudgets", "PodDisruptionBudget", "policy", ("v1", "v1beta1"), True, ALL_VERBS,
                ("pdb",), has_generation=True, subresources=("status",))
DAEMONSETS = Resource("daemonsets", "DaemonSet", "apps", ("v1",), True, ALL_VERBS, ("ds",), has_generation=True,
                      subresources=("status",))
REPLICASETS = Resource("replicasets", "ReplicaSet", "apps", ("v1",), True, ALL_VERBS, ("rs",), has_generation=True,
                       subresources=("status",))
DEPLOYMENTS = Resource("deployments", "Deployment", "apps", ("v1",), True, ALL_VERBS, ("deploy",),
                       has_generation=True, subresources=("status",))

EVENTS = Resource("events", "Event", "", ("v1",), True, ALL_VERBS, ("ev",))

RESOURCES = (NODES, PODS, NAMESPACES, PDBS, DAEMONSETS, REPLICASETS, DEPLOYMENTS, EVENTS)
BY_PLURAL = {r.plural: r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    res = BY_PLURAL.get(plural)
    if res is None or res.group != group or version not in res.versions:
        return None
    return res
