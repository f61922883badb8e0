"""Worker scaling: one 5,000-node label batch run by 1, 2 and 4 ``progress_worker`` processes.

    python -m bench.workers [--nodes 5000] [--latency-ms 20] [--worker-concurrency 4] [--limit 16]

Also part of ``make bench`` (``python -m bench.run``, module ``workers``; the quick run: 64 nodes, no warm-up batch).

Against ``kube_sim --latency-ms 20``. Each worker runs at most ``--worker-concurrency`` node operations at once and
the batch's cluster limit is ``--limit``, held across all workers: 1, 2 and 4 workers of 4 threads should scale
close to linearly up to the limit of 16. The floor is measured in the same run: the same label patches sent
straight to the simulator by ``--limit`` threads of the Kubernetes client, nothing of kubenode in between.
Prints a table and writes bench/results/workers.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from bench.common import ROOT
from bench.kube import start_sim
from bench.kubenode import import_cluster, run_batch, start_workers
from bench.stack import kubenode_stack


def direct_floor(sim, names: list[str], threads: int) -> float:
    """Seconds to label every node with ``threads`` concurrent PATCH requests of the Kubernetes client."""
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(str(sim.kubeconfig)))
    api.api_client.rest_client.pool_manager.connection_pool_kw["maxsize"] = threads
    body = {"metadata": {"labels": {"bench-floor": "yes"}}}
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda name: api.patch_node(name, body), names))
    return time.perf_counter() - start


def run(quick: bool = False) -> dict:
    """For bench.run: the full sizes (5,000 nodes), or 160 nodes for the quick run."""
    return measure(64, 20, 4, 16, (1, 2, 4), warm_up=False) if quick else measure(5000, 20, 4, 16, (1, 2, 4))


def measure(nodes: int, latency_ms: int, worker_concurrency: int, limit: int, counts: tuple[int, ...],
            warm_up: bool = True) -> dict:
    out: dict = {"nodes": nodes, "latency_ms": latency_ms, "worker_concurrency": worker_concurrency,
                 "cluster_limit": limit, "runs": []}
    with start_sim(nodes, latency_ms) as sim, kubenode_stack("workers") as stack:
        names = sim.node_names()
        out["floor_s"] = round(direct_floor(sim, names, limit), 3)
        import_cluster(stack, sim, "bench")
        # every worker started at once and warmed up on a small batch; then the most workers first, the surplus
        # stopped before each smaller count (each run has warm workers only)
        running = start_workers(stack, max(counts), worker_concurrency)
        if warm_up:
            run_batch(stack, "bench", "label", {"set": {"bench-workers-warm": "yes"}, "remove": []},
                      names=names[:4 * limit], concurrency=limit, running_workers=True)
        results = {}
        for count in sorted(counts, reverse=True):
            while len(running) > count:
                surplus = running.pop()
                surplus.stop()
                stack.workers.remove(surplus)
            results[count] = run_batch(stack, "bench", "label",
                                       {"set": {f"bench-workers-{count}": "yes"}, "remove": []},
                                       concurrency=limit, running_workers=True)
        for count in counts:
            result = results[count]
            in_flight = min(count * worker_concurrency, limit)
            ideal = nodes * latency_ms / 1000 / in_flight
            out["runs"].append({"workers": count, "seconds": round(result["seconds"], 3),
                                "succeeded": result["succeeded"], "failed": result["failed"],
                                "nodes_per_s": round(nodes / result["seconds"], 1),
                                "ideal_s": round(ideal, 3), "vs_ideal": round(result["seconds"] / ideal, 2)})
    base = out["runs"][0]["seconds"]
    for r in out["runs"]:
        r["speedup"] = round(base / r["seconds"], 2)
        r["vs_floor"] = round(r["seconds"] / out["floor_s"], 2)
        out[f"workers_{r['workers']}_s"] = r["seconds"]
        out[f"speedup_{r['workers']}"] = r["speedup"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--worker-concurrency", type=int, default=4)
    parser.add_argument("--limit", type=int, default=16)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    args = parser.parse_args(argv)
    counts = tuple(int(c) for c in args.workers.split(","))
    result = measure(args.nodes, args.latency_ms, args.worker_concurrency, args.limit, counts)
    print(f"{result['nodes']} nodes, kube_sim {result['latency_ms']} ms, {result['worker_concurrency']} threads per "
          f"worker, cluster limit {result['cluster_limit']}; floor (direct patches, {result['cluster_limit']} "
          f"threads): {result['floor_s']} s")
    print(f"{'workers':>7} {'seconds':>8} {'nodes/s':>8} {'speedup':>8} {'ideal s':>8} {'vs ideal':>8} "
          f"{'vs floor':>8} {'ok':>5} {'failed':>6}")
    for r in result["runs"]:
        print(f"{r['workers']:>7} {r['seconds']:>8} {r['nodes_per_s']:>8} {r['speedup']:>8} {r['ideal_s']:>8} "
              f"{r['vs_ideal']:>8} {r['vs_floor']:>8} {r['succeeded']:>5} {r['failed']:>6}")
    path = ROOT / "bench" / "results" / "workers.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
