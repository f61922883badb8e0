"""Fan-out: 500 WebSocket clients on one replica watching one batch: p99 delivery and the replica's peak RSS.

One daphne replica (memory notifier: the steps are committed in the same process) serves every client; steps are
committed at the writer's coalesced rate (one flush per task every 50 ms). Delivery = frame arrival on a client
minus the wall time just before the step's transaction. Peak RSS is the replica's VmHWM.
"""

from __future__ import annotations

import asyncio
import time

from bench.common import summary_ms
from bench.stack import Stack, kubenode_stack
from bench.wsclient import Watcher, ahttp_json


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM")


async def _fanout(stack: Stack, replica, clients: int, steps: int) -> tuple[list[float], int, int]:
    watchers = [Watcher(replica.ws_url, stack.cookie, replica.http_url) for _ in range(clients)]
    for w in watchers:
        w.keep_frames = False
    for i in range(0, clients, 25):
        await asyncio.gather(*(w.connect() for w in watchers[i:i + 25]))
    task = (await ahttp_json(f"{replica.http_url}/__bench/task?total={steps}"))["task"]
    await asyncio.gather(*(w.resume(task, 0) for w in watchers))
    await asyncio.sleep(0.5)
    stamps = []
    try:
        for i in range(steps):
            start = time.perf_counter()
            step = await ahttp_json(f"{replica.http_url}/__bench/step?task={task}&node=n{i}")
            stamps.append((int(step["seq"]), step["t0"]))
            await asyncio.sleep(max(0.0, 0.05 - (time.perf_counter() - start)))
        last_seq = stamps[-1][0]
        await asyncio.gather(*(w.wait_for(task, last_seq, timeout=60) for w in watchers), return_exceptions=True)
        samples, missing = [], 0
        for w in watchers:
            for seq, t0 in stamps:
                at = w.arrivals.get((task, seq))
                if at is None:
                    missing += 1
                else:
                    samples.append(max(0.0, at - t0))
        duplicates = sum(w.duplicates for w in watchers)
        return samples, missing, duplicates
    finally:
        await asyncio.gather(*(w.close() for w in watchers), return_exceptions=True)


def run(quick: bool = False) -> dict:
    clients, steps = (50, 10) if quick else (500, 60)
    with kubenode_stack("fanout") as stack:
        replica = stack.replica("fanout", "memory")
        samples, missing, duplicates = asyncio.run(_fanout(stack, replica, clients, steps))
        rss = _peak_rss_mb(replica.process.pid)
    s = summary_ms(samples)
    return {"clients_500": {**s, "rss_mb": rss, "clients": clients, "steps": steps, "missing": missing,
                            "duplicates": duplicates, "notifier": "memory"}}
