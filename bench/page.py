"""Server time of the node list page for a 5,000-node cluster (median and p99 of full GETs on a real replica).

The page reads the nodes through a short-lived per-cluster cache that any node mutation invalidates, so two
figures matter: warm (the cache holds the list: median/p99 of repeated GETs) and cold (every GET after a
mutation: an AuditEntry is written before each one, so the page reads the 5,000 nodes from the cluster again).
A filtered page further down the list (name filter, page 3) and the list sorted by pods per node are timed warm
too. Each node list read also reads the pods that are not finished (one cluster-wide list, alongside the nodes),
for the Pods column: cold includes it.

The page's URL is looked up by name in nodes/urls.py (``nodes:node_list`` and a few likely spellings).
"""

from __future__ import annotations

import time
import urllib.request

from bench.common import Unavailable, percentile
from bench.kube import start_sim
from bench.kubenode import import_cluster
from bench.stack import kubenode_stack, manage

FIND_URL = """
from django.urls import NoReverseMatch, reverse
from nodes.models import Cluster
cluster = Cluster.objects.get(name="bench")
for name in ("nodes:node_list", "nodes:nodes", "nodes:list", "nodes:cluster_nodes", "nodes:cluster_detail"):
    for kwargs in ({"cluster": cluster.name}, {"name": cluster.name}, {"cluster_name": cluster.name},
                   {"pk": cluster.pk}, {"cluster_id": cluster.pk}, {"slug": cluster.name}, {}):
        try:
            print("URL", reverse(name, kwargs=kwargs)); raise SystemExit(0)
        except NoReverseMatch:
            pass
print("NOURL")
"""


def _get(url: str, cookie: str) -> tuple[float, int, int]:
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback only
        body = response.read()
        status = response.status
    return time.perf_counter() - start, status, len(body)


INVALIDATE = """
from nodes.models import AuditEntry
AuditEntry.objects.create(username="bench", cluster_name="bench", node="none", action="cordon", outcome="failed",
                          error="bench: invalidates the node list cache")
"""


def run(quick: bool = False) -> dict:
    nodes = 300 if quick else 5000
    samples = 3 if quick else 15
    with start_sim(nodes) as sim, kubenode_stack("page") as stack:
        import_cluster(stack, sim, "bench")
        out = manage(stack.env("memory"), "shell", "-c", FIND_URL)
        line = next((x for x in out.splitlines() if x.startswith("URL ")), None)
        if line is None:
            raise Unavailable("no node list page in nodes/urls.py yet (nodes:node_list)")
        path = line.split(" ", 1)[1]
        replica = stack.replica("page", "memory")
        url = replica.http_url + path
        first, status, size = _get(url, stack.cookie)
        if status != 200:
            raise Unavailable(f"GET {path} answered {status}")
        times = [_get(url, stack.cookie)[0] for _ in range(samples)]
        filtered = [_get(url + "?q=worker-1&page=3", stack.cookie)[0] for _ in range(samples)]
        by_pods = [_get(url + "?sort=pods", stack.cookie)[0] for _ in range(samples)]
        cold = []
        for _ in range(2 if quick else 9):
            manage(stack.env("memory"), "shell", "-c", INVALIDATE)
            cold.append(_get(url, stack.cookie)[0])
    ms = [t * 1000 for t in times]
    return {"nodes_5000_ms": round(sorted(ms)[len(ms) // 2], 1), "p99_ms": round(percentile(ms, 99), 1),
            "first_ms": round(first * 1000, 1), "cold_ms": round(sorted(cold)[len(cold) // 2] * 1000, 1),
            "filtered_page_ms": round(sorted(filtered)[len(filtered) // 2] * 1000, 1),
            "sorted_by_pods_ms": round(sorted(by_pods)[len(by_pods) // 2] * 1000, 1),
            "samples": samples, "nodes": nodes, "bytes": size, "path": path}
