"""Batch throughput: 1,000-node label and cordon batches against kube_sim --latency-ms 5, vs kubectl and ideal."""

from __future__ import annotations

from bench import kubectl_peers
from bench.common import Unavailable
from bench.kube import start_sim
from bench.kubenode import run_batch

LATENCY_MS = 5


def _kubenode(sim, action: str, params: dict, names: list[str]) -> tuple[float | None, str, int]:
    try:
        seconds, concurrency = run_batch(sim, action, params, names)
        return seconds, "", concurrency
    except Unavailable as exc:
        return None, str(exc), 0


def run(quick: bool = False) -> dict:
    nodes = 40 if quick else 1000
    sample = 5 if quick else 60
    out: dict = {}
    with start_sim(nodes, LATENCY_MS) as sim:
        names = sim.node_names()
        for action in ("label", "cordon"):
            fig: dict = {"nodes": len(names), "latency_ms": LATENCY_MS}
            if action == "label":
                fig["kubectl_selector_s"] = round(kubectl_peers.label_selector(sim, "bench-sel"), 3)
                part = kubectl_peers.label_loop(sim, names[:sample], "bench-loop")
                params = {"set": {"bench-kubenode": "yes"}, "remove": [], "confirm_reserved": False}
            else:
                fig["kubectl_selector_s"] = round(kubectl_peers.cordon_selector(sim, "bench-sel"), 3)
                sim.kubectl("uncordon", "-l", "bench-sel")
                part = kubectl_peers.cordon_loop(sim, names[:sample])
                sim.kubectl("uncordon", "-l", "bench-sel")
                params = {"reason": "bench"}
            fig["kubectl_loop_s"] = round(part * len(names) / sample, 3)
            fig["kubectl_loop_sampled_nodes"] = sample
            seconds, why, concurrency = _kubenode(sim, action, params, names)
            fig["kubenode_s"] = None if seconds is None else round(seconds, 3)
            if why:
                fig["kubenode_reason"] = why
            if seconds is not None:
                ideal = len(names) * LATENCY_MS / 1000 / concurrency
                fig.update(concurrency=concurrency, ideal_s=round(ideal, 3),
                           nodes_per_s=round(len(names) / seconds, 1),
                           vs_kubectl_loop=round(fig["kubectl_loop_s"] / seconds, 1),
                           vs_ideal=round(seconds / ideal, 2))
            key = f"{action}_1000"
            out[key] = fig
    return out
