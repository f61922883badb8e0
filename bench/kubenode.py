"""How the benchmarks drive kubenode itself: a batch over a kube_sim cluster, through kubenode's own entry points.

Everything here raises ``Unavailable`` while the part it needs has not landed, so the runner records null.
"""

from __future__ import annotations

from bench.common import Unavailable, require_paths


def run_batch(sim, action: str, params: dict, names: list[str]) -> tuple[float, int]:
    """Run one batch of ``action`` over ``names``; returns (wall seconds, concurrency)."""
    require_paths("progress/management/commands/node_batch.py", "progress/runner.py", "nodes/services.py")
    raise Unavailable("node_batch entry point not wired into the bench yet")
