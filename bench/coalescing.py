"""Coalescing and loss: a 5,000-node label batch run by a worker process, watched by a WebSocket client on a web
process.

Doorbells are counted as they arrive on a LISTEN connection of the benchmark (one NOTIFY per flush transaction of
the worker). Target: at most one per task per 50 ms (the final message is flushed at once and is not counted against
it) and every message row reaches the client exactly once.
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import quote

from bench.kube import start_sim
from bench.kubenode import import_cluster
from bench.stack import kubenode_stack
from bench.wsclient import Watcher, ahttp_json

WINDOW_S = 0.05


def max_in_window(times: list[float], window: float = WINDOW_S) -> int:
    """Largest number of events in any half-open window of ``window`` seconds."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


class RingCounter:
    """LISTEN on the doorbell channel in a thread; the arrival time of every doorbell, per task."""

    def __init__(self, dbname: str):
        import threading

        self.dbname = dbname
        self.rings: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        import psycopg

        from bench.common import pg_conninfo
        from progress.notify.base import PG_CHANNEL

        with psycopg.connect(**pg_conninfo(self.dbname)) as conn:
            conn.execute(f'LISTEN "{PG_CHANNEL}"')
            self._ready.set()
            while not self._stop.is_set():
                for notify in conn.notifies(timeout=0.5):
                    try:
                        task = json.loads(notify.payload).get("t")
                    except ValueError:
                        continue
                    if task:
                        self.rings.setdefault(str(task), []).append(time.time())


async def _watch_batch(stack, replica, nodes: int) -> dict:
    watcher = Watcher(replica.ws_url, stack.cookie, replica.http_url)
    watcher.keep_frames = False
    await watcher.connect()
    counter = RingCounter(stack.dbname).__enter__()
    try:
        params = quote(json.dumps({"set": {"bench-coalesce": "yes"}, "remove": []}))
        started = await ahttp_json(f"{replica.http_url}/__bench/batch?cluster=bench&action=label&params={params}")
        if "error" in started:
            raise RuntimeError(started["error"])
        task = started["task"]
        await watcher.resume(task, 0)
        start = time.monotonic()
        deadline = start + 1800
        import psycopg

        from bench.common import pg_conninfo

        with psycopg.connect(**pg_conninfo(stack.dbname)) as conn:
            while time.monotonic() < deadline:
                status, last_seq = conn.execute("SELECT status, last_seq FROM progress_progresstask WHERE id = %s",
                                                (task,)).fetchone()
                if status not in ("pending", "running"):
                    break
                await asyncio.sleep(0.5)
            run_s = conn.execute("SELECT extract(epoch FROM finished_at - started_at) FROM progress_progresstask "
                                 "WHERE id = %s", (task,)).fetchone()[0]
        try:
            await watcher.wait_for(task, last_seq, timeout=30)
        except TimeoutError:
            pass
        await asyncio.sleep(0.5)
        received = sum(1 for (t, _seq) in watcher.arrivals if t == task)
        rings = counter.rings.get(task, [])
        return {"task": task, "status": status, "sent": last_seq, "received": received,
                "duplicates": watcher.duplicates, "rings": rings, "run_s": float(run_s or 0)}
    finally:
        counter.__exit__(None, None, None)
        await watcher.close()


def run(quick: bool = False) -> dict:
    nodes = 300 if quick else 5000
    backend = "postgres"
    with start_sim(nodes) as sim, kubenode_stack("coalescing") as stack:
        import_cluster(stack, sim, "bench")
        replica = stack.replica("coalescing", backend)
        stack.worker("coalescing-worker", backend)
        r = asyncio.run(_watch_batch(stack, replica, nodes))
    rings = r["rings"]
    body = rings[:-1] if r["status"] in ("succeeded", "failed") else rings  # the final flush is immediate
    gaps = sorted(b - a for a, b in zip(body, body[1:], strict=False))
    return {
        "nodes": nodes, "notifier": backend, "status": r["status"], "batch_s": round(r["run_s"], 3),
        "doorbells": len(rings), "max_notifies_per_50ms": max_in_window(body),
        "min_gap_ms": round(gaps[0] * 1000, 2) if gaps else None,
        "loss": {"sent": r["sent"], "received": r["received"], "lost": r["sent"] - r["received"],
                 "duplicates": r["duplicates"]},
    }
