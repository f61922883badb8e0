"""Fan-out: 500 WebSocket clients on one replica watching one batch: p99 delivery and the replica's peak RSS."""

from __future__ import annotations

from bench.common import require_paths


def run(quick: bool = False) -> dict:
    require_paths("progress/consumers.py", "progress/management/commands/node_batch.py")
    from bench.common import Unavailable

    raise Unavailable("consumer not wired into the bench yet")
