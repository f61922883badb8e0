"""Server time of the node list page for a 5,000-node cluster."""

from __future__ import annotations

from bench.common import Unavailable, require_paths


def run(quick: bool = False) -> dict:
    require_paths("nodes/views.py", "nodes/kube")
    raise Unavailable("node list page not wired into the bench yet")
