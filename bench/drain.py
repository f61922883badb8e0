"""Drain 50 nodes × 20 pods with PDBs, concurrency 5, against kubectl drain node after node."""

from __future__ import annotations

from bench import kubectl_peers
from bench.common import Unavailable
from bench.kube import start_sim
from bench.kubenode import run_batch

PARAMS = {"reason": "bench", "ignore_daemonsets": True, "delete_emptydir_data": True, "force": True,
          "grace_period": -1, "timeout": 120, "pod_selector": "", "disable_eviction": False,
          "skip_wait_for_delete_timeout": 0}


def run(quick: bool = False) -> dict:
    nodes = 6 if quick else 50
    out: dict = {"nodes": nodes}
    # Two fresh clusters so both sides drain the same starting state.
    with start_sim(nodes) as sim:
        names = sim.node_names()
        out["pods"] = len(sim.kubectl("get", "pods", "-A", "-o", "name").split())
        out["kubectl_s"] = round(kubectl_peers.drain_loop(sim, names), 3)
    with start_sim(nodes) as sim:
        try:
            seconds, concurrency = run_batch(sim, "drain", PARAMS, sim.node_names())
            out.update(kubenode_s=round(seconds, 3), concurrency=concurrency)
        except Unavailable as exc:
            out.update(kubenode_s=None, kubenode_reason=str(exc))
    return out
