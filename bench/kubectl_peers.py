"""Peers measured in the same run: kubectl against kube_sim (selector, a loop, cordon, drain node after node).

A kubectl process costs far more than the API call it makes, so the loop over N nodes is timed on a sample of
the same nodes and scaled to N (the sample size is recorded next to the figure).
"""

from __future__ import annotations

import time

from bench.kube import Sim


def label_selector(sim: Sim, key: str) -> float:
    start = time.perf_counter()
    sim.kubectl("label", "nodes", "-l", f"!{key}", f"{key}=sel", "--overwrite")
    return time.perf_counter() - start


def loop(sim: Sim, names: list[str], args_for) -> float:
    start = time.perf_counter()
    for name in names:
        sim.kubectl(*args_for(name))
    return time.perf_counter() - start


def label_loop(sim: Sim, names: list[str], key: str) -> float:
    return loop(sim, names, lambda n: ("label", "node", n, f"{key}=loop", "--overwrite"))


def cordon_loop(sim: Sim, names: list[str]) -> float:
    return loop(sim, names, lambda n: ("cordon", n))


def cordon_selector(sim: Sim, key: str) -> float:
    start = time.perf_counter()
    sim.kubectl("cordon", "-l", f"{key}")
    return time.perf_counter() - start


def drain_loop(sim: Sim, names: list[str]) -> float:
    return loop(sim, names, lambda n: ("drain", n, "--ignore-daemonsets", "--delete-emptydir-data",
                                      "--force", "--timeout=60s"))
