"""Batch throughput: 1,000-node label and cordon batches against kube_sim --latency-ms 5, vs kubectl and ideal.

kubectl peers: ``kubectl label nodes -l …`` (one process, one request per node, sequential) and a loop of one
kubectl process per node (timed on a sample of the same nodes and scaled to N). Ideal: N × latency / concurrency.
"""

from __future__ import annotations

from bench import kubectl_peers
from bench.common import Unavailable
from bench.kube import start_sim
from bench.kubenode import import_cluster, run_batch
from bench.stack import kubenode_stack

LATENCY_MS = 5


def _kubenode_figures(fig: dict, result: dict, nodes: int) -> None:
    seconds = result["seconds"]
    ideal = nodes * LATENCY_MS / 1000 / result["concurrency"]
    fig.update(kubenode_s=round(seconds, 3), kubenode_wall_s=round(result["wall_s"], 3),
               concurrency=result["concurrency"], ideal_s=round(ideal, 3),
               kubenode_succeeded=result["succeeded"], kubenode_failed=result["failed"],
               kubenode_errors=result["errors"],
               nodes_per_s=round(nodes / seconds, 1) if seconds else None,
               vs_kubectl_loop=round(fig["kubectl_loop_s"] / seconds, 1) if seconds else None,
               vs_kubectl_selector=round(fig["kubectl_selector_s"] / seconds, 1) if seconds else None,
               vs_ideal=round(seconds / ideal, 2))


def run(quick: bool = False) -> dict:
    nodes = 40 if quick else 1000
    sample = 3 if quick else 60
    out: dict = {}
    with start_sim(nodes, LATENCY_MS) as sim, kubenode_stack("throughput") as stack:
        names = sim.node_names()
        try:
            import_cluster(stack, sim, "bench")
            reason = ""
        except (Unavailable, RuntimeError) as exc:
            reason = str(exc)
        for action in ("label", "cordon"):
            fig: dict = {"nodes": len(names), "latency_ms": LATENCY_MS, "kubectl_loop_sampled_nodes": sample}
            if action == "label":
                fig["kubectl_selector_s"] = round(kubectl_peers.label_selector(sim, "bench-sel"), 3)
                part = kubectl_peers.label_loop(sim, names[:sample], "bench-loop")
                params = {"set": {"bench-kubenode": "yes"}, "remove": []}
            else:
                fig["kubectl_selector_s"] = round(kubectl_peers.cordon_selector(sim, "bench-sel"), 3)
                sim.kubectl("uncordon", "-l", "bench-sel")
                part = kubectl_peers.cordon_loop(sim, names[:sample])
                sim.kubectl("uncordon", "-l", "bench-sel")
                params = {"reason": "bench"}
            fig["kubectl_loop_s"] = round(part * len(names) / sample, 3)
            try:
                if reason:
                    raise Unavailable(reason)
                _kubenode_figures(fig, run_batch(stack, "bench", action, params), len(names))
            except Unavailable as exc:
                fig.update(kubenode_s=None, kubenode_reason=str(exc))
            out[f"{action}_1000"] = fig
    return out
