"""How the benchmarks drive kubenode itself: a batch over a kube_sim cluster through ``manage.py node_batch``.

The cluster is imported with ``manage.py cluster_import`` into a migrated throw-away database; the batch's own
time is read back from the task row (started_at → finished_at), next to the command's wall time.
"""

from __future__ import annotations

import json
import time

from bench.common import Unavailable, pg_conninfo, require_paths
from bench.stack import BENCH_USER, Stack, manage


def import_cluster(stack: Stack, sim, name: str) -> None:
    require_paths("nodes/management/commands/cluster_import.py")
    manage(stack.env("memory"), "cluster_import", "--name", name, str(sim.kubeconfig))


BATCH_SCRIPT = """
import json, sys
from django.contrib.auth import get_user_model
from nodes import batches
from nodes.models import Cluster
from progress import services
from progress.worker import Worker
spec = json.loads(sys.stdin.read())
user = get_user_model().objects.get(username=spec["user"])
cluster = Cluster.objects.get(name=spec["cluster"])
inline = not spec["workers"]
task = batches.start_batch(user, cluster, spec["action"], spec["params"], names=spec["names"] or None,
                           all_nodes=not spec["names"], concurrency=spec["concurrency"], queued=not inline)
print("TASK", task.pk, flush=True)
if inline:
    worker = Worker(name="bench-inline", only_tasks=[task.pk], role="command",
                    concurrency=spec["worker_concurrency"] or None)
    services.queue_task(task)
    worker.run_until_idle(5)
"""


def start_workers(stack: Stack, count: int, concurrency: int = 0) -> list:
    """Start `count` ``progress_worker`` processes at once; returns them once each listens."""
    from concurrent.futures import ThreadPoolExecutor

    if not count:
        return []
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda i: stack.worker(f"bench-worker-{i + 1}", concurrency=concurrency or None),
                             range(count)))


def run_batch(stack: Stack, cluster: str, action: str, params: dict, *, notify_type: str = "memory",
              concurrency: int = 0, names: list[str] | None = None, timeout: float = 1800, workers: int = 0,
              worker_concurrency: int = 0, running_workers: bool = False) -> dict:
    """Run one batch through kubenode's worker code.

    workers=0: in the process that creates it (as node_batch does on the embedded default); workers=N: N
    ``progress_worker`` processes (``stack.worker``) run it, as in production; they are stopped afterwards.
    Returns seconds (task run: started_at → finished_at), wall seconds, concurrency and counts.
    """
    require_paths("progress/worker.py", "progress/services.py", "nodes/batches.py")
    # running_workers: the stack's workers already running run it (none started or stopped here)
    started = [] if running_workers else start_workers(stack, workers, worker_concurrency)
    spec = {"user": BENCH_USER, "cluster": cluster, "action": action, "params": params, "names": names or [],
            "concurrency": concurrency, "workers": workers or int(running_workers),
            "worker_concurrency": worker_concurrency}
    start = time.perf_counter()
    try:
        out = manage(stack.env("postgres" if spec["workers"] else notify_type), "shell", "-c", BATCH_SCRIPT,
                     stdin=json.dumps(spec), timeout=timeout + 60)
    except RuntimeError as exc:
        raise Unavailable(f"batch: {exc}") from None
    line = next((x for x in out.splitlines() if x.startswith("TASK ")), None)
    if line is None:
        raise Unavailable(f"batch printed no task: {out[-300:]}")
    task_id = line.split()[1]
    import psycopg

    try:
        with psycopg.connect(**pg_conninfo(stack.dbname)) as conn:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                status = conn.execute("SELECT status FROM progress_progresstask WHERE id = %s",
                                      (task_id,)).fetchone()[0]
                if status not in ("pending", "running"):
                    break
                time.sleep(0.2)
            wall = time.perf_counter() - start
            row = conn.execute("SELECT extract(epoch FROM finished_at - started_at), concurrency, total, succeeded, "
                               "failed, status FROM progress_progresstask WHERE id = %s", (task_id,)).fetchone()
            errors = [r[0] for r in conn.execute(
                "SELECT error FROM progress_progressmessage WHERE task_id = %s AND error <> '' LIMIT 3", (task_id,))]
    finally:
        for worker in started:
            worker.stop()
            stack.workers.remove(worker)
    seconds, conc, total, ok, failed, status = row
    if seconds is None:
        raise Unavailable(f"batch did not finish (status {status})")
    return {"seconds": float(seconds), "wall_s": wall, "concurrency": conc, "total": total, "succeeded": ok,
            "failed": failed, "status": status, "errors": errors, "task": task_id}
