"""The node list of a 5,000-node cluster on a real replica: server time warm and cold, how fast a change made with
kubectl shows in an open node list, and how many Kubernetes watches 100 open node lists cost.

- warm: median/p99 of repeated GETs of the page (the cluster's nodes are kept current by its watch, the pod counts
  and usage by their caches); a filtered page further down the list (name filter, page 3) and the list sorted by
  pods and by CPU are timed warm too. After a mutation of ours (an AuditEntry, as every batch writes) the page reads
  the nodes that mutation touched again and is otherwise served as warm: `after_mutation_ms`.
- cold: the first GET of a cluster this replica has never read (each sample a new registration of the same 5,000-node
  simulator): one list of the nodes, one of the pods that are not finished, the usage (metrics.k8s.io), the watch
  started, the page made. The pods (Pods and requests columns) of a cluster over 1,000 nodes are read after its
  page, in the background: the page says so and the counts follow live. Each cold sample is taken alone.
- live: a WebSocket client of the replica subscribes as an open node list does (`nodes.watch`); `kubectl label node`
  runs; the time from starting kubectl to the frame carrying the changed row (kubectl's own run time is the floor).
- fan-out: 100 such subscribers of a cluster the replica has not read yet; its /metrics says how many node watches
  it started for them.
- under load: a web process (PostgreSQL notifier, as in production) serves the node list idle, then while a
  1,000-node label batch of the same cluster runs in a `progress_worker` process and a WebSocket client of that
  web process watches the batch (doorbells, progress frames, the nodes the batch changed re-read): p50/p95 of the
  page in both phases, the target being p95 under load ≤ 1.5 × p95 idle.

The page's URL is looked up by name in nodes/urls.py (``nodes:node_list``).
"""

from __future__ import annotations

import asyncio
import json
import re
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
try:
    print("URL", reverse("nodes:node_list", kwargs={"cluster": cluster.name}))
except NoReverseMatch:
    print("NOURL")
"""

MUTATION = """
from nodes.models import AuditEntry
AuditEntry.objects.create(username="bench", cluster_name="bench", node="worker-0001", action="label",
                          outcome="succeeded")
"""

COLD_SAMPLES_QUICK, COLD_SAMPLES = 2, 5
LIVE_SAMPLES = 5
COLD_PAUSE = 6.0
VIEWERS = 100


def _get(url: str, cookie: str) -> tuple[float, int, int]:
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback only
        body = response.read()
        status = response.status
    return time.perf_counter() - start, status, len(body)


def _median_ms(values: list[float]) -> float:
    return round(sorted(values)[len(values) // 2] * 1000, 1)


async def _subscribe(replica, cookie: str, cluster: str, names: list[str]):
    import websockets

    ws = await websockets.connect(replica.ws_url, additional_headers={"Cookie": cookie}, origin=replica.http_url,
                                  open_timeout=30, max_size=None)
    await ws.send(json.dumps({"type": "nodes.watch", "cluster": cluster, "names": names, "filter": {}}))
    while json.loads(await asyncio.wait_for(ws.recv(), 60)).get("type") != "nodes.state":
        pass
    return ws


async def _live(replica, cookie: str, sim, samples: int) -> dict:
    """kubectl label → the frame with the row, per sample; and 100 subscribers → watches started."""
    names = [f"worker-{i:04d}" for i in range(1, 101)]
    ws = await _subscribe(replica, cookie, "bench", names)
    delays, kubectl_runs = [], []
    try:
        for i in range(samples):
            node = names[i]
            start = time.perf_counter()
            proc = await asyncio.create_subprocess_exec("kubectl", "--kubeconfig", str(sim.kubeconfig), "label",
                                                        "--overwrite", "node", node, f"bench-live={i}",
                                                        stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.DEVNULL)
            await proc.wait()
            kubectl_runs.append(time.perf_counter() - start)
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if frame.get("type") == "nodes.rows" and node in frame.get("rows", {}):
                    delays.append(time.perf_counter() - start)
                    break
    finally:
        await ws.close()
    before = await asyncio.to_thread(_watches_started, replica)
    # 100 node lists of a cluster nobody has opened yet in this replica
    viewers = await asyncio.gather(*(_subscribe(replica, cookie, "bench-viewers", names[:20])
                                     for _ in range(VIEWERS)))
    after = await asyncio.to_thread(_watches_started, replica)
    for v in viewers:
        await v.close()
    return {"kubectl_to_row_ms": _median_ms(delays), "kubectl_to_row_max_ms": round(max(delays) * 1000, 1),
            "kubectl_run_ms": _median_ms(kubectl_runs), "samples": len(delays),
            "viewers": VIEWERS, "watches_started": None if after is None else after - before}


def _watches_started(replica) -> float | None:
    metrics = urllib.request.urlopen(replica.http_url + "/metrics", timeout=30).read().decode()  # noqa: S310
    found = re.search(r"^kubenode_node_watches_started_total (\S+)", metrics, re.M)
    return float(found.group(1)) if found else None


UNDER_LOAD_NODES, UNDER_LOAD_NODES_QUICK = 1000, 300
IDLE_SAMPLES, IDLE_SAMPLES_QUICK = 40, 6


def _page_under_batch(stack, sim, path: str, quick: bool) -> dict:
    """The node list's server time idle, then while a batch of the same cluster runs in a worker process."""
    import psycopg

    from bench.common import pg_conninfo
    from bench.kubenode import BATCH_SCRIPT
    from bench.stack import BENCH_USER
    from bench.wsclient import Watcher

    replica = stack.replica("page-load", "postgres", app="kubenode.asgi:application")
    url = replica.http_url + path
    _get(url, stack.cookie)
    time.sleep(1.0 if quick else COLD_PAUSE)  # warm, as the idle figures above
    idle = [_get(url, stack.cookie)[0] for _ in range(IDLE_SAMPLES_QUICK if quick else IDLE_SAMPLES)]
    stack.worker("page-load-worker", "postgres")
    size = UNDER_LOAD_NODES_QUICK if quick else UNDER_LOAD_NODES
    names = sim.node_names()[:size]
    spec = {"user": BENCH_USER, "cluster": "bench", "action": "label", "params": {"set": {"bench-load": "yes"},
            "remove": []}, "names": names, "concurrency": 0, "workers": 1, "worker_concurrency": 0}

    async def during() -> dict:
        watcher = Watcher(replica.ws_url, stack.cookie, replica.http_url)
        await watcher.connect()
        try:
            out = await asyncio.to_thread(manage, stack.env("postgres"), "shell", "-c", BATCH_SCRIPT,
                                          stdin=json.dumps(spec))
            task = next(x for x in out.splitlines() if x.startswith("TASK ")).split()[1]
            await watcher.resume(task, 0)
            loaded = []
            with psycopg.connect(**pg_conninfo(stack.dbname)) as conn:
                started = time.perf_counter()
                while time.perf_counter() - started < 600:
                    status, last_seq = conn.execute(
                        "SELECT status, last_seq FROM progress_progresstask WHERE id = %s", (task,)).fetchone()
                    if status not in ("pending", "running"):
                        break
                    loaded.append((await asyncio.to_thread(_get, url, stack.cookie))[0])
                batch_s = time.perf_counter() - started
            await watcher.wait_for(task, last_seq, timeout=60)
            return {"loaded": loaded, "batch_s": batch_s, "status": status, "frames": len(watcher.arrivals),
                    "last_seq": last_seq}
        finally:
            await watcher.close()

    result = asyncio.run(during())
    loaded = result["loaded"]
    if len(loaded) < 3:
        raise Unavailable(f"the batch ran {result['batch_s']:.1f} s: only {len(loaded)} page(s) served meanwhile")
    idle_ms, loaded_ms = [t * 1000 for t in idle], [t * 1000 for t in loaded]
    idle_p95, loaded_p95 = percentile(idle_ms, 95), percentile(loaded_ms, 95)
    return {"batch_nodes": size, "idle_p50_ms": _median_ms(idle), "idle_p95_ms": round(idle_p95, 1),
            "loaded_p50_ms": _median_ms(loaded), "loaded_p95_ms": round(loaded_p95, 1),
            "ratio_p95": round(loaded_p95 / idle_p95, 2), "idle_samples": len(idle), "loaded_samples": len(loaded),
            "batch_s": round(result["batch_s"], 2), "batch_status": result["status"],
            "messages_seen": result["frames"], "last_seq": result["last_seq"]}


def run(quick: bool = False) -> dict:
    nodes = 300 if quick else 5000
    samples = 3 if quick else 15
    cold_samples = COLD_SAMPLES_QUICK if quick else COLD_SAMPLES
    with start_sim(nodes) as sim, kubenode_stack("page") as stack:
        import_cluster(stack, sim, "bench")
        import_cluster(stack, sim, "bench-viewers")
        for i in range(cold_samples):
            import_cluster(stack, sim, f"bench-cold-{i}")
        out = manage(stack.env("memory"), "shell", "-c", FIND_URL)
        line = next((x for x in out.splitlines() if x.startswith("URL ")), None)
        if line is None:
            raise Unavailable("no node list page in nodes/urls.py yet (nodes:node_list)")
        path = line.split(" ", 1)[1]
        replica = stack.replica("page", "memory", app="kubenode.asgi:application")
        url = replica.http_url + path
        first, status, size = _get(url, stack.cookie)
        if status != 200:
            raise Unavailable(f"GET {path} answered {status}")
        time.sleep(COLD_PAUSE)  # warm: the cluster's pods and usage have been read (after its first page)
        times = [_get(url, stack.cookie)[0] for _ in range(samples)]
        filtered = [_get(url + "?q=worker-1&page=3", stack.cookie)[0] for _ in range(samples)]
        by_pods = [_get(url + "?sort=pods", stack.cookie)[0] for _ in range(samples)]
        by_cpu = [_get(url + "?sort=cpu", stack.cookie)[0] for _ in range(samples)]
        after_mutation = []
        for _ in range(2 if quick else 5):
            manage(stack.env("memory"), "shell", "-c", MUTATION)
            after_mutation.append(_get(url, stack.cookie)[0])
        cold = []
        for i in range(cold_samples):  # each alone: the previous cluster's pods (read after its page) are read
            time.sleep(COLD_PAUSE)
            cold.append(_get(url.replace("/bench/", f"/bench-cold-{i}/"), stack.cookie)[0])
        live = asyncio.run(_live(replica, stack.cookie, sim, 2 if quick else LIVE_SAMPLES))
        try:
            under_load = _page_under_batch(stack, sim, path, quick)
        except Exception as exc:  # noqa: BLE001 - recorded; the figures above stand
            under_load = {"ratio_p95": None, "reason": f"{type(exc).__name__}: {exc}"[:300]}
    ms = [t * 1000 for t in times]
    return {"nodes_5000_ms": round(sorted(ms)[len(ms) // 2], 1), "p99_ms": round(percentile(ms, 99), 1),
            "first_ms": round(first * 1000, 1), "cold_ms": _median_ms(cold),
            "cold_max_ms": round(max(cold) * 1000, 1), "after_mutation_ms": _median_ms(after_mutation),
            "filtered_page_ms": _median_ms(filtered), "sorted_by_pods_ms": _median_ms(by_pods),
            "sorted_by_cpu_ms": _median_ms(by_cpu), "samples": samples, "nodes": nodes, "bytes": size,
            "path": path, "live": live, "under_load": under_load}
