"""Batches against the simulated Kubernetes API: exact counts, cancel, retry, the CLI."""

import json
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from nodes import batches
from nodes.models import AuditEntry
from progress.models import MessageType, ProgressMessage, ProgressTask, TaskStatus
from tests.progress.helpers import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(autouse=True)
def worker(task_worker):
    return task_worker()


def wait_finished(task_id, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = ProgressTask.objects.get(pk=task_id)
        if task.is_finished:
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish")


@pytest.fixture
def big_cluster(kube_sim):
    from nodes import services as node_services

    sim = kube_sim(nodes=1000, fail_rate=0.05)
    with open(sim.kubeconfig) as fh:
        return node_services.import_cluster("big", fh.read(), simulated=True)


def test_thousand_nodes_end_with_exact_counts(big_cluster):
    user = make_user("ann")
    task = batches.start_batch(user, big_cluster, "label", {"set": {"team": "a"}}, all_nodes=True)
    task = wait_finished(task.pk)
    assert task.total == 1000 and task.done == 1000
    assert task.succeeded + task.failed == 1000 and task.failed > 0
    assert task.status == TaskStatus.FAILED
    audit_failed = set(AuditEntry.objects.filter(task_id=task.pk, outcome="failed").values_list("node", flat=True))
    audit_ok = AuditEntry.objects.filter(task_id=task.pk, outcome="succeeded").count()
    final = ProgressMessage.objects.get(task=task, seq=task.last_seq)
    assert final.type == MessageType.COMPLETE
    assert {f["node"] for f in final.detail["failed_nodes"]} == audit_failed
    assert (final.detail["succeeded"], final.detail["failed"]) == (audit_ok, len(audit_failed))
    assert all(f["error"] for f in final.detail["failed_nodes"])
    # coalesced: far fewer transactions (PostgreSQL's xmin of each row) than messages
    assert task.last_seq == 1001
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(DISTINCT xmin::text) FROM progress_progressmessage WHERE task_id = %s", [task.pk])
        transactions = cur.fetchone()[0]
    assert 1 < transactions < 1001 / 2


def test_cancel_stops_at_a_node_boundary_and_retry_runs_the_rest(sim_cluster):
    user = make_user("ann")
    task = batches.start_batch(user, sim_cluster, "cordon", {"reason": "maintenance"}, all_nodes=True,
                               concurrency=1)
    while ProgressTask.objects.get(pk=task.pk).done < 2:
        time.sleep(0.02)
    batches.cancel_batch(ProgressTask.objects.get(pk=task.pk), user)
    task = wait_finished(task.pk)
    assert task.status == TaskStatus.CANCELLED and task.done < task.total
    final = ProgressMessage.objects.get(task=task, seq=task.last_seq)
    assert final.type == MessageType.CANCELLED
    assert AuditEntry.objects.filter(task_id=task.pk).count() == task.done
    retry = batches.retry_batch(task, user)
    assert retry.retry_of_id == task.pk and retry.total == task.total - task.succeeded
    retry = wait_finished(retry.pk)
    assert retry.status == TaskStatus.SUCCEEDED and retry.succeeded == retry.total


def test_cli_exit_codes_and_json_summary(sim_cluster, tmp_path):
    make_user("ann")
    with pytest.raises(CommandError) as bad:
        call_command("node_batch", "--cluster", sim_cluster.name, "--user", "ann", "--action", "label",
                     "--set", "no-equals-sign", "--all")
    assert bad.value.returncode == 2
    assert not ProgressTask.objects.exists()


def test_cli_process_json_summary(sim_cluster, test_database_env):
    make_user("ann")
    cmd = [sys.executable, "manage.py", "node_batch", "--cluster", sim_cluster.name, "--user", "ann",
           "--action", "label", "--set", "zone=b", "--all", "--wait", "--json"]
    env = {**test_database_env, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["status"] == "succeeded" and summary["failed"] == 0
    assert summary["succeeded"] == summary["total"] > 0 and summary["failed_nodes"] == []
    out = subprocess.run(cmd[:-4] + ["--selector", "=bad=", "--json"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 2
    out = subprocess.run(cmd[:6] + ["nobody"] + cmd[7:], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2 and "nobody" in out.stderr
