"""Cross-replica latency: a step committed on replica B → the WebSocket frame on a client of replica A.

Both replicas are real daphne processes on a migrated throw-away database; B commits each step through kubenode's
own writer (see bench/asgi_app.py) and stamps the wall time just before its transaction; the client of A stamps
the frame's arrival. Backends: memory (one process: A is B), postgres, redis, polling. Steps are paced at 50/s.
Each backend waits until both replicas run the requested notifier class (with a verified listener for postgres
and redis). After every step the floor — a raw INSERT + NOTIFY + COMMIT → psycopg listener round trip on the same
database — is measured once, so each backend is compared with a floor taken under the same load.
"""

from __future__ import annotations

import asyncio
import os

from bench.common import ROOT, Unavailable, summary_ms
from bench.stack import Stack, kubenode_stack
from bench.wsclient import Watcher, ahttp_json

BACKENDS = ("memory", "postgres", "redis", "polling")
EXPECTED = {"memory": "MemoryNotifier", "postgres": "PostgresNotifier", "redis": "RedisNotifier",
            "polling": "PollingNotifier"}


async def _measure(stack: Stack, a, b, samples: int, pace_s: float) -> dict:
    """Steps committed on B, frames on a client of A; a floor round trip interleaved after every step."""
    from bench.floor_postgres import FloorProbe

    watcher = Watcher(a.ws_url, stack.cookie, a.http_url)
    await watcher.connect()
    try:
        async with FloorProbe(stack.dbname) as floor:
            task = (await ahttp_json(f"{b.http_url}/__bench/task?total={samples + 5}"))["task"]
            await watcher.resume(task, 0)
            await asyncio.sleep(0.2)
            total, commit, delivery = [], [], []
            for i in range(samples + 5):
                step = await ahttp_json(f"{b.http_url}/__bench/step?task={task}&node=n{i}")
                if "error" in step:
                    raise RuntimeError(step["error"])
                arrival = await watcher.wait_for(task, int(step["seq"]), timeout=15)
                await floor.round_trip(keep=i >= 5)
                if i >= 5:
                    total.append(max(0.0, arrival - step["t0"]))
                    commit.append(max(0.0, step["t1"] - step["t0"]))
                    delivery.append(max(0.0, arrival - step["t1"]))
                await asyncio.sleep(pace_s)
            floor_samples = floor.samples
    finally:
        await watcher.close()
    out = summary_ms(total)
    out["floor"] = summary_ms(floor_samples)
    out["vs_floor_p50"] = round(out["p50_ms"] / out["floor"]["p50_ms"], 2) if out["floor"]["p50_ms"] else None
    # where the time goes: B's writer transaction (t0 → committed) and committed → frame on A's client
    out["commit_p50_ms"] = summary_ms(commit)["p50_ms"]
    out["commit_to_frame"] = summary_ms(delivery)
    return out


async def _wait_ready(replica, backend: str, timeout: float = 30) -> dict:
    """The replica's notifier is the requested class and (for a realtime backend) its listener is verified."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        info = await ahttp_json(f"{replica.http_url}/__bench/notifier")
        status = info.get("status") or {}
        if info.get("effective") != EXPECTED[backend]:
            raise Unavailable(f"requested {backend}, replica runs {info.get('effective')}")
        if backend in ("memory", "polling") or (status.get("verified") and status.get("effective") == backend):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise Unavailable(f"{backend} listener of {replica.name} not verified: {status}")
        await asyncio.sleep(0.1)


def _backend(stack: Stack, backend: str, quick: bool) -> dict:
    if backend != "memory" and not (ROOT / f"progress/notify/{backend}.py").exists():
        raise Unavailable(f"not there yet: progress/notify/{backend}.py")
    a = stack.replica(f"a-{backend}", backend)
    b = a if backend == "memory" else stack.replica(f"b-{backend}", backend)
    try:
        async def measure() -> dict:
            for replica in {a.name: a, b.name: b}.values():
                await _wait_ready(replica, backend)
            samples = (5 if quick else 60) if backend == "polling" else (20 if quick else 400)
            return await _measure(stack, a, b, samples, 0.02)

        out = asyncio.run(measure())
        out["replicas"] = 1 if a is b else 2
        return out
    finally:
        stack.stop_replicas()


async def _batch_100(stack: Stack, replica) -> dict:
    """A real 100-node label batch run by a worker process; its client's (on a web process) first and completion
    frames, measured from the end of the node operation that caused them (its AuditEntry's time)."""
    import json
    from urllib.parse import quote

    import psycopg

    from bench.common import pg_conninfo

    watcher = Watcher(replica.ws_url, stack.cookie, replica.http_url)
    await watcher.connect()
    try:
        params = quote(json.dumps({"set": {"bench-latency": "yes"}, "remove": []}))
        started = await ahttp_json(
            f"{replica.http_url}/__bench/batch?cluster=bench&action=label&params={params}&submit=0")
        if "error" in started:
            raise RuntimeError(started["error"])
        task = started["task"]
        await watcher.resume(task, 0)  # the client watches before the batch starts, as the page does
        await asyncio.sleep(0.2)
        submitted = await ahttp_json(f"{replica.http_url}/__bench/submit?task={task}")
        if "error" in submitted:
            raise RuntimeError(submitted["error"])
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
            # when the worker built the rows of the first and the last message (in its flush transaction)
            built = dict(conn.execute("SELECT seq, extract(epoch FROM created_at) FROM progress_progressmessage "
                                      "WHERE task_id = %s AND seq IN (1, %s)", (task, last_seq)).fetchall())
    finally:
        await watcher.close()
    first = watcher.arrivals[(task, 1)] - float(audits[first_node])
    completion = watcher.arrivals[(task, last_seq)] - max(float(v) for v in audits.values())
    last_audit = max(float(v) for v in audits.values())
    # where the time goes: node operation's end → its row built in the worker's flush, row built → frame on the
    # client (the rest of the flush transaction, commit, NOTIFY, the web process, the WebSocket)
    stages = {"first_op_to_row_ms": round((float(built[1]) - float(audits[first_node])) * 1000, 2),
              "first_row_to_frame_ms": round((watcher.arrivals[(task, 1)] - float(built[1])) * 1000, 2),
              "last_op_to_row_ms": round((float(built[last_seq]) - last_audit) * 1000, 2),
              "last_row_to_frame_ms": round((watcher.arrivals[(task, last_seq)] - float(built[last_seq])) * 1000,
                                            2)}
    return {"first_ms": round(first * 1000, 2), "completion_ms": round(completion * 1000, 2), "nodes": len(audits),
            **stages}


def batch_100(stack: Stack, quick: bool) -> dict:
    from bench.kube import start_sim
    from bench.kubenode import import_cluster

    with start_sim(100, 5) as sim:
        import_cluster(stack, sim, "bench")
        replica = stack.replica("batch100", "postgres")
        stack.worker("batch100-worker", "postgres")
        try:
            runs = [asyncio.run(_batch_100(stack, replica)) for _ in range(1 if quick else 5)]
        finally:
            stack.stop_replicas()
    firsts = sorted(r["first_ms"] for r in runs)
    completions = sorted(r["completion_ms"] for r in runs)
    stages = {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in runs[0] if k.endswith(("_row_ms", "frame_ms"))}
    return {"first_ms": firsts[len(firsts) // 2], "completion_ms": completions[len(completions) // 2],
            "stages_median_ms": stages,
            "runs": len(runs), "first_all_ms": firsts, "completion_all_ms": completions, "notifier": "postgres",
            "path": "worker → PostgreSQL → web → WebSocket client"}


def run(quick: bool = False) -> dict:
    out: dict = {}
    with kubenode_stack("latency") as stack:  # one migrated database for the batch and every backend
        try:
            if os.environ.get("BENCH_SKIP_BATCH_100"):
                raise Unavailable("skipped (BENCH_SKIP_BATCH_100)")
            out["batch_100"] = batch_100(stack, quick)
        except Exception as exc:  # noqa: BLE001 - recorded, the backends below still run
            out["batch_100"] = {"first_ms": None, "completion_ms": None,
                                "reason": f"{type(exc).__name__}: {exc}"[:300]}
        for backend in [b for b in os.environ.get("BENCH_BACKENDS", ",".join(BACKENDS)).split(",") if b]:
            try:
                out[backend] = _backend(stack, backend, quick)
            except Unavailable as exc:
                out[backend] = {"p50_ms": None, "p95_ms": None, "p99_ms": None, "reason": str(exc)}
            except Exception as exc:  # noqa: BLE001 - one backend failing must not hide the others
                out[backend] = {"p50_ms": None, "p95_ms": None, "p99_ms": None,
                                "reason": f"error: {type(exc).__name__}: {str(exc)[:300]}"}
    return out
