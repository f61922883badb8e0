"""Coalescing: during a 5,000-node batch at most one NOTIFY per task per 50 ms, and no message lost."""

from __future__ import annotations

from bench.common import Unavailable, require_paths


def run(quick: bool = False) -> dict:
    require_paths("progress/notify/postgres.py", "progress/management/commands/node_batch.py")
    raise Unavailable("postgres notifier not wired into the bench yet")
