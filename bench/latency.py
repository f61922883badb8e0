"""Cross-replica latency: a step committed on replica B → the WebSocket frame on a client of replica A.

Both replicas are real daphne processes on a migrated throw-away database; B commits each step through kubenode's
own writer (see bench/asgi_app.py) and stamps the wall time just before its transaction; the client of A stamps
the frame's arrival. Backends: memory (one process: A is B), postgres, redis, polling. Steps are paced at 50/s.
"""

from __future__ import annotations

import asyncio

from bench.common import ROOT, Unavailable, summary_ms
from bench.stack import Stack, kubenode_stack
from bench.wsclient import Watcher, ahttp_json

BACKENDS = ("memory", "postgres", "redis", "polling")
EXPECTED = {"memory": "MemoryNotifier", "postgres": "PostgresNotifier", "redis": "RedisNotifier",
            "polling": "PollingNotifier"}


async def _measure(stack: Stack, a, b, samples: int, pace_s: float) -> list[float]:
    watcher = Watcher(a.ws_url, stack.cookie, a.http_url)
    await watcher.connect()
    try:
        task = (await ahttp_json(f"{b.http_url}/__bench/task?total={samples + 5}"))["task"]
        await watcher.resume(task, 0)
        await asyncio.sleep(0.2)
        out = []
        for i in range(samples + 5):
            step = await ahttp_json(f"{b.http_url}/__bench/step?task={task}&node=n{i}")
            if "error" in step:
                raise RuntimeError(step["error"])
            arrival = await watcher.wait_for(task, int(step["seq"]), timeout=15)
            if i >= 5:
                out.append(max(0.0, arrival - step["t0"]))
            await asyncio.sleep(pace_s)
        return out
    finally:
        await watcher.close()


def _backend(stack: Stack, backend: str, quick: bool) -> dict:
    if backend != "memory" and not (ROOT / f"progress/notify/{backend}.py").exists():
        raise Unavailable(f"not there yet: progress/notify/{backend}.py")
    a = stack.replica(f"a-{backend}", backend)
    b = a if backend == "memory" else stack.replica(f"b-{backend}", backend)
    try:
        effective = ahttp_sync(f"{b.http_url}/__bench/notifier").get("effective")
        if effective != EXPECTED[backend]:
            raise Unavailable(f"requested {backend}, replica runs {effective}")
        samples = (8 if quick else 60) if backend == "polling" else (30 if quick else 400)
        return summary_ms(asyncio.run(_measure(stack, a, b, samples, 0.02)))
    finally:
        stack.stop_replicas()


def ahttp_sync(url: str) -> dict:
    from bench.wsclient import http_json

    return http_json(url)


async def _batch_100(stack: Stack, replica) -> dict:
    """A real 100-node label batch run by the replica's runner; its client's first and completion frames, measured
    from the AuditEntry written when the node operation that caused them finished."""
    import json
    from urllib.parse import quote

    import psycopg

    from bench.common import pg_conninfo

    watcher = Watcher(replica.ws_url, stack.cookie, replica.http_url)
    await watcher.connect()
    try:
        params = quote(json.dumps({"set": {"bench-latency": "yes"}, "remove": []}))
        started = await ahttp_json(f"{replica.http_url}/__bench/batch?cluster=bench&action=label&params={params}")
        if "error" in started:
            raise RuntimeError(started["error"])
        task = started["task"]
        await watcher.resume(task, 0)
        with psycopg.connect(**pg_conninfo(stack.dbname)) as conn:
            for _ in range(600):
                status, last_seq = conn.execute("SELECT status, last_seq FROM progress_progresstask WHERE id = %s",
                                                (task,)).fetchone()
                if status not in ("pending", "running"):
                    break
                await asyncio.sleep(0.1)
            await watcher.wait_for(task, last_seq, timeout=30)
            first_node = conn.execute("SELECT node FROM progress_progressmessage WHERE task_id = %s AND seq = 1",
                                      (task,)).fetchone()[0]
            audits = dict(conn.execute("SELECT node, extract(epoch FROM created_at) FROM nodes_auditentry "
                                       "WHERE task_id = %s", (task,)).fetchall())
    finally:
        await watcher.close()
    first = watcher.arrivals[(task, 1)] - float(audits[first_node])
    completion = watcher.arrivals[(task, last_seq)] - max(float(v) for v in audits.values())
    return {"first_ms": round(first * 1000, 2), "completion_ms": round(completion * 1000, 2), "nodes": len(audits)}


def batch_100(quick: bool) -> dict:
    from bench.kube import start_sim
    from bench.kubenode import import_cluster

    with start_sim(100, 5) as sim, kubenode_stack("batch100") as stack:
        import_cluster(stack, sim, "bench")
        replica = stack.replica("batch100", "memory")
        runs = [asyncio.run(_batch_100(stack, replica)) for _ in range(1 if quick else 5)]
    firsts = sorted(r["first_ms"] for r in runs)
    completions = sorted(r["completion_ms"] for r in runs)
    return {"first_ms": firsts[len(firsts) // 2], "completion_ms": completions[len(completions) // 2],
            "runs": len(runs), "first_all_ms": firsts, "completion_all_ms": completions, "notifier": "memory"}


def run(quick: bool = False) -> dict:
    out: dict = {}
    try:
        out["batch_100"] = batch_100(quick)
    except Exception as exc:  # noqa: BLE001 - recorded, the backends below still run
        out["batch_100"] = {"first_ms": None, "completion_ms": None, "reason": f"{type(exc).__name__}: {exc}"[:300]}
    with kubenode_stack("latency") as stack:
        for backend in BACKENDS:
            try:
                out[backend] = _backend(stack, backend, quick)
            except Unavailable as exc:
                out[backend] = {"p50_ms": None, "p95_ms": None, "p99_ms": None, "reason": str(exc)}
            except Exception as exc:  # noqa: BLE001 - one backend failing must not hide the others
                out[backend] = {"p50_ms": None, "p95_ms": None, "p99_ms": None,
                                "reason": f"error: {type(exc).__name__}: {str(exc)[:300]}"}
    return out
