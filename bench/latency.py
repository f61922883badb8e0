"""Cross-replica latency: a step committed on replica B → WebSocket frame on a client of replica A.

Backends: memory (one process), postgres, redis, polling. Also the first and the completion message of a
100-node batch, measured from the step that caused them.
"""

from __future__ import annotations

from bench.common import Unavailable, require_paths

BACKENDS = ("memory", "postgres", "redis", "polling")


def _backend(backend: str, quick: bool) -> dict:
    require_paths("progress/consumers.py", "progress/writer.py", f"progress/notify/{backend}.py")
    raise Unavailable("consumer / listener not wired into the bench yet")


def run(quick: bool = False) -> dict:
    out: dict = {}
    for backend in BACKENDS:
        try:
            out[backend] = _backend(backend, quick)
        except Unavailable as exc:
            out[backend] = {"p50_ms": None, "p95_ms": None, "p99_ms": None, "reason": str(exc)}
    return out
