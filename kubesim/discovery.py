"""Discovery documents: /version, /api, /api/v1, /apis, /apis/{group}, /apis/{group}/{version}."""

from .resources import RESOURCES

VERSION = {
    "major": "1", "minor": "31", "gitVersion": "v1.31.0-kubenode-sim",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.22.5", "compiler": "gc",
    "platform": "linux/amd64",
}

GROUPS = {"apps": ("v1",), "policy": ("v1", "v1beta1")}
GROUPS_1_20 = {"apps": ("v1",), "policy": ("v1beta1",)}  # --eviction-version v1beta1: no policy/v1 at all


def groups_for(eviction_version: str) -> dict:
    return GROUPS_1_20 if eviction_version == "v1beta1" else GROUPS


def core_versions(host: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}


def _group_doc(group: str, groups: dict) -> dict:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in groups[group]]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def group_list(eviction_version: str = "v1") -> dict:
    groups = groups_for(eviction_version)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group_doc(g, groups) for g in groups]}


def group(name: str, eviction_version: str = "v1") -> dict | None:
    groups = groups_for(eviction_version)
    if name not in groups:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(name, groups)}


def resource_list(group: str, version: str, eviction_version: str = "v1") -> dict | None:
    if group and version not in groups_for(eviction_version).get(group, ()):
        return None
    if not group and version != "v1":
        return None
    resources = []
    for res in RESOURCES:
        if res.group != group or version not in res.versions:
            continue
        resources.append({"name": res.plural, "singularName": res.kind.lower(), "namespaced": res.namespaced,
                          "kind": res.kind, "verbs": list(res.verbs), "shortNames": list(res.short_names)})
        for sub in res.subresources:
            if sub == "eviction":
                resources.append({"name": f"{res.plural}/eviction", "singularName": "", "namespaced": True,
                                  "group": "policy", "version": eviction_version, "kind": "Eviction",
                                  "verbs": ["create"]})
            else:
                resources.append({"name": f"{res.plural}/{sub}", "singularName": "", "namespaced": res.namespaced,
                                  "kind": res.kind, "verbs": ["get", "patch", "update"]})
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
