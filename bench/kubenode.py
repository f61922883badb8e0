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
from nodes.models import Cluster
from progress import services
from progress.runner import get_runner
spec = json.loads(sys.stdin.read())
user = get_user_model().objects.get(username=spec["user"])
cluster = Cluster.objects.get(name=spec["cluster"])
task = services.create_task(user, cluster, spec["action"], spec["params"], names=spec["names"] or None,
                            all_nodes=not spec["names"], concurrency=spec["concurrency"], submit=False)
runner = get_runner()
runner.submit(task.pk)
finished = runner.wait(task.pk, spec["timeout"])
runner.shutdown(5)
print("TASK", task.pk, finished)
"""


def run_batch(stack: Stack, cluster: str, action: str, params: dict, *, notify_type: str = "memory",
              concurrency: int = 0, names: list[str] | None = None, timeout: float = 1800) -> dict:
    """Run one batch through kubenode's runner (as node_batch does, with the full parameters).

    Returns seconds (task run: started_at → finished_at), wall seconds of the process, concurrency and counts.
    """
    require_paths("progress/runner.py", "progress/services.py", "nodes/services.py")
    spec = {"user": BENCH_USER, "cluster": cluster, "action": action, "params": params, "names": names or [],
            "concurrency": concurrency, "timeout": timeout}
    start = time.perf_counter()
    try:
        out = manage(stack.env(notify_type), "shell", "-c", BATCH_SCRIPT, stdin=json.dumps(spec),
                     timeout=timeout + 60)
    except RuntimeError as exc:
        raise Unavailable(f"batch: {exc}") from None
    wall = time.perf_counter() - start
    line = next((x for x in out.splitlines() if x.startswith("TASK ")), None)
    if line is None:
        raise Unavailable(f"batch printed no task: {out[-300:]}")
    task_id = line.split()[1]
    import psycopg

    with psycopg.connect(**pg_conninfo(stack.dbname)) as conn:
        row = conn.execute("SELECT extract(epoch FROM finished_at - started_at), concurrency, total, succeeded, "
                           "failed, status FROM progress_progresstask WHERE id = %s", (task_id,)).fetchone()
        errors = [r[0] for r in conn.execute(
            "SELECT error FROM progress_progressmessage WHERE task_id = %s AND error <> '' LIMIT 3", (task_id,))]
    seconds, conc, total, ok, failed, status = row
    if seconds is None:
        raise Unavailable(f"batch did not finish (status {status})")
    return {"seconds": float(seconds), "wall_s": wall, "concurrency": conc, "total": total, "succeeded": ok,
            "failed": failed, "status": status, "errors": errors, "task": task_id}
