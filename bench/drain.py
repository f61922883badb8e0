"""Drain 50 nodes (kube_sim's pods, with PDBs), concurrency 5, against kubectl drain node after node.

Both sides start from a fresh simulator with the same seed, so they drain the same pods. Nodes that carry a pod of
kube_sim's never-disruptible app (``ledger``: minAvailable = replicas) cannot be drained by anyone and are left out.
"""

from __future__ import annotations

from bench import kubectl_peers
from bench.common import Unavailable
from bench.kube import start_sim
from bench.kubenode import import_cluster, run_batch
from bench.stack import kubenode_stack

# The same as kubectl drain --ignore-daemonsets --delete-emptydir-data --force --timeout=60s.
PARAMS = {"reason": "bench", "ignore_daemonsets": True, "delete_emptydir_data": True, "force": True,
          "grace_period": -1, "timeout": 60}


def _workers(sim) -> tuple[list[str], int, int]:
    """Drainable worker names, the number of nodes left out, and the pods on the drainable nodes."""
    import json

    pods = json.loads(sim.kubectl("get", "pods", "-A", "-o", "json"))["items"]
    blocked = {p["spec"].get("nodeName") for p in pods if p["metadata"]["name"].startswith("ledger-")}
    workers = [n for n in sim.node_names() if not n.startswith("control-plane")]
    names = [n for n in workers if n not in blocked]
    on_names = sum(1 for p in pods if p["spec"].get("nodeName") in set(names))
    return names, len(workers) - len(names), on_names


def run(quick: bool = False) -> dict:
    nodes = 8 if quick else 60  # 3 control-plane nodes + workers, some carrying ledger
    out: dict = {}
    with start_sim(nodes, extra=("--seed", "7")) as sim:
        names, left_out, pods = _workers(sim)
        out.update(nodes=len(names), nodes_left_out_ledger=left_out, pods=pods)
        out["pdbs"] = len(sim.kubectl("get", "pdb", "-A", "-o", "name", check=False).split())
        out["kubectl_s"] = round(kubectl_peers.drain_loop(sim, names), 3)
    with start_sim(nodes, extra=("--seed", "7")) as sim, kubenode_stack("drain") as stack:
        try:
            import_cluster(stack, sim, "bench")
            names = _workers(sim)[0]
            result = run_batch(stack, "bench", "drain", PARAMS, names=names)
            out.update(kubenode_s=round(result["seconds"], 3), kubenode_wall_s=round(result["wall_s"], 3),
                       concurrency=result["concurrency"], kubenode_succeeded=result["succeeded"],
                       kubenode_failed=result["failed"], kubenode_errors=result["errors"])
            if out["kubenode_s"]:
                out["vs_kubectl"] = round(out["kubectl_s"] / out["kubenode_s"], 1)
        except (Unavailable, RuntimeError) as exc:
            out.update(kubenode_s=None, kubenode_reason=str(exc))
    return out
