"""Fan-out: 500 WebSocket clients on one replica watching one batch: p99 delivery and the replica's peak RSS.

One daphne replica (memory notifier: the steps are committed in the same process) serves every client; steps are
committed at the writer's coalesced rate (one flush per task every 50 ms). Delivery = frame arrival on a client
minus the wall time just before the step's transaction; the first WARMUP_STEPS steps (delivered to every client
before the clock starts) are left out, as the latency benchmark leaves out its first five. Peak RSS is the replica's
VmHWM. CPU per delivered message is the replica's user + system CPU time over the steps divided by the (client,
message) pairs delivered: each doorbell is read and serialized once, then written to every connection as one frame.
"""

from __future__ import annotations

import asyncio
import time

from bench.common import summary_ms
from bench.stack import Stack, kubenode_stack
from bench.wsclient import Watcher, ahttp_json

WARMUP_STEPS = 3


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat, clock ticks)."""
    import os

    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM")


async def _fanout(stack: Stack, replica, clients: int, steps: int) -> dict:
    watchers = [Watcher(replica.ws_url, stack.cookie, replica.http_url) for _ in range(clients)]
    for w in watchers:
        w.keep_frames = False
    for i in range(0, clients, 25):
        await asyncio.gather(*(w.connect() for w in watchers[i:i + 25]))
    task = (await ahttp_json(f"{replica.http_url}/__bench/task?total={steps + WARMUP_STEPS}"))["task"]
    await asyncio.gather(*(w.resume(task, 0) for w in watchers))
    await asyncio.sleep(0.5)
    # warm-up: the replica is still answering the 500 resumes (a read each) when the first steps come; these
    # steps are delivered to every client and left out of the figures
    for i in range(WARMUP_STEPS):
        step = await ahttp_json(f"{replica.http_url}/__bench/step?task={task}&node=w{i}")
        await asyncio.gather(*(w.wait_for(task, int(step["seq"]), timeout=60) for w in watchers))
    for w in watchers:
        w.frames_received = 0  # frames per message: the measured steps only
    stamps = []
    cpu_before = _cpu_seconds(replica.process.pid)
    try:
        for i in range(steps):
            start = time.perf_counter()
            step = await ahttp_json(f"{replica.http_url}/__bench/step?task={task}&node=n{i}")
            stamps.append((int(step["seq"]), step["t0"]))
            await asyncio.sleep(max(0.0, 0.05 - (time.perf_counter() - start)))
        last_seq = stamps[-1][0]
        await asyncio.gather(*(w.wait_for(task, last_seq, timeout=60) for w in watchers), return_exceptions=True)
        cpu = _cpu_seconds(replica.process.pid) - cpu_before
        samples, missing = [], 0
        for w in watchers:
            for seq, t0 in stamps:
                at = w.arrivals.get((task, seq))
                if at is None:
                    missing += 1
                else:
                    samples.append(max(0.0, at - t0))
        duplicates = sum(w.duplicates for w in watchers)
        frames = sum(w.frames_received for w in watchers)
        return {"samples": samples, "missing": missing, "duplicates": duplicates, "frames": frames, "cpu_s": cpu,
                "protocol_errors": sum(len(w.other) for w in watchers)}
    finally:
        await asyncio.gather(*(w.close() for w in watchers), return_exceptions=True)


def run(quick: bool = False) -> dict:
    clients, steps = (50, 10) if quick else (500, 200)
    with kubenode_stack("fanout") as stack:
        replica = stack.replica("fanout", "memory")
        got = asyncio.run(_fanout(stack, replica, clients, steps))
        rss = _peak_rss_mb(replica.process.pid)
    s = summary_ms(got["samples"])
    delivered = len(got["samples"])
    return {"clients_500": {
        **s, "rss_mb": rss, "clients": clients, "steps": steps, "missing": got["missing"],
        "duplicates": got["duplicates"], "protocol_errors": got["protocol_errors"], "notifier": "memory",
        # the web process's CPU (user + system) over the steps, per message delivered to a client and per frame
        "cpu_s": round(got["cpu_s"], 3),
        "cpu_us_per_message": round(got["cpu_s"] / delivered * 1e6, 1) if delivered else None,
        "frames": got["frames"], "messages_per_frame": round(delivered / got["frames"], 2) if got["frames"] else None,
    }}
