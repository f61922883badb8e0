"""A failed flush loses nothing: results stay queued until a transaction containing them commits.

A worker process runs a batch while its database goes away mid-batch — its connections cut by a TCP proxy (the
kube API stays reachable, so results pile up), or a PostgreSQL server of the test's own stopped for longer than a
worker waits for a pooled connection, then started again. The batch ends `succeeded` with every node counted once:
counters, seq without a gap, one audit entry per node, one completion; the worker's /metrics shows the failed
flushes it retried.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from nodes import batches
from nodes.models import AuditEntry
from progress.models import MessageType, ProgressTask, TaskStatus
from tests.fixtures.daphne import ROOT
from tests.progress.helpers import assert_rows_exact, make_user, until
from tests.replicas.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def flush_failures(worker) -> float:
    match = re.search(r"^kubenode_flush_failures_total (\S+)$", worker.metrics(), re.M)
    return float(match.group(1)) if match else 0.0


@pytest.mark.django_db(transaction=True)
def test_database_cut_off_mid_batch_the_batch_still_ends_exact(kube_sim, worker_processes, test_database_env):
    from nodes.services import import_cluster

    sim = kube_sim(nodes=240, latency_ms=15)
    cluster = import_cluster("sim", sim.kubeconfig_text, simulated=True)
    real = (test_database_env["DB_HOST"], int(test_database_env["DB_PORT"]))
    proxy = TcpProxy(real).start()
    worker = worker_processes("w-cut", concurrency=8, DB_HOST="127.0.0.1", DB_PORT=str(proxy.port))
    task = batches.start_batch(make_user("ann"), cluster, "label", {"set": {"cut": "yes"}}, all_nodes=True,
                               concurrency=8)
    until(lambda: ProgressTask.objects.get(pk=task.pk).done >= 40, 60, what="progress")
    port = proxy.port
    proxy.stop()  # every connection cut, new ones refused: flushes fail while node operations go on
    until(lambda: flush_failures(worker) >= 1, 30, what="a failed flush")
    time.sleep(2)
    stalled = ProgressTask.objects.get(pk=task.pk)
    proxy = TcpProxy(real, port=port).start()
    try:
        task = until(lambda: (t := ProgressTask.objects.get(pk=task.pk)).is_finished and t, 240)
    finally:
        proxy.stop()
        worker.stop()
    assert task.status == TaskStatus.SUCCEEDED and task.done == task.succeeded == task.total == 240
    assert stalled.done < task.total
    rows = assert_rows_exact(task)
    assert rows[-1].type == MessageType.COMPLETE and task.last_seq == 241
    assert sorted(AuditEntry.objects.filter(task_id=task.pk).values_list("node", flat=True)) == sorted(task.nodes)
    assert re.search(rf"flush of task={task.pk} failed \(attempt \d+, [1-9]\d* result\(s\) kept, retry in ",
                     worker.log()), worker.log()[-2000:]


SETUP = """
from django.contrib.auth import get_user_model
from nodes.roles import ensure_groups
from django.contrib.auth.models import Group
ensure_groups()
user = get_user_model().objects.create_user("ann", password="pw-ann-1234")
user.groups.add(Group.objects.get(name="operator"))
"""


def manage(env: dict, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    import os

    full = {**os.environ, **env, "DJANGO_SETTINGS_MODULE": "kubenode.settings", "PYTHONUNBUFFERED": "1"}
    full.pop("KUBENODE_CONFIG", None)
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=timeout)


def test_postgresql_restarted_mid_batch_loses_nothing(kube_sim, throwaway_postgres, tmp_path):
    from tests.fixtures.roles import start_worker_process

    pg = throwaway_postgres
    pg.create_database("kubenode")
    env = {**pg.env("kubenode"), "SECRET_KEY": "restart-test-" + "k" * 40, "PROGRESS_NOTIFY_TYPE": "postgres"}
    sim = kube_sim(nodes=240, latency_ms=60)
    for args in (["migrate", "-v0"], ["shell", "-c", SETUP],
                 ["cluster_import", sim.kubeconfig, "--name", "sim", "--simulated"]):
        done = manage(env, *args)
        assert done.returncode == 0, done.stderr
    worker = start_worker_process("w-restart", env, tmp_path, concurrency=8)
    try:
        queued = manage(env, "node_batch", "--cluster", "sim", "--user", "ann", "--action", "label",
                        "--set", "restart=yes", "--all", "--concurrency", "8", "--json")
        assert queued.returncode == 0, queued.stderr
        task_id = re.search(r'"task": "([0-9a-f-]+)"', queued.stdout).group(1)

        def state():
            with pg.connect("kubenode") as conn:
                return conn.execute("SELECT status, done, total, succeeded, last_seq FROM progress_progresstask "
                                    "WHERE id = %s", (task_id,)).fetchone()

        until(lambda: state()[1] >= 40, 60, what="progress")
        assert state()[1] < 200  # mid-batch
        # down for longer than a worker waits for a pooled connection (10 s): flushes fail meanwhile
        pg.restart(down_for=12)
        until(lambda: state()[0] not in ("pending", "running"), 240, what="the batch's end", every=0.5)
        assert flush_failures(worker) >= 1
        assert "result(s) kept" in worker.log()
    finally:
        worker.stop()
    status, done, total, succeeded, last_seq = state()
    assert (status, done, succeeded, total, last_seq) == ("succeeded", 240, 240, 240, 241)
    with pg.connect("kubenode") as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM progress_progressmessage WHERE task_id = %s ORDER BY seq",
                                           (task_id,))]
        kinds = [r[0] for r in conn.execute("SELECT type FROM progress_progressmessage WHERE task_id = %s",
                                            (task_id,))]
        nodes = [r[0] for r in conn.execute("SELECT node FROM progress_progressmessage WHERE task_id = %s "
                                            "AND type = 'progress'", (task_id,))]
        audited = [r[0] for r in conn.execute("SELECT node FROM nodes_auditentry WHERE task_id = %s", (task_id,))]
    assert seqs == list(range(1, 242)) and kinds.count("complete") == 1
    assert len(nodes) == len(set(nodes)) == 240 and sorted(audited) == sorted(nodes)
