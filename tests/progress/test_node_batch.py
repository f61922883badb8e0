"""`manage.py node_batch` as its own process against the simulated API: exit status, JSON summary, drain options.

On PostgreSQL the command queues the task and, with --wait, follows it to the end while a worker runs it (here the
worker loop in the test process); without --wait it only queues it. On SQLite it runs the task itself
(tests/embedded).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nodes.models import AuditEntry
from progress.models import MessageType, ProgressMessage, ProgressTask, TaskStatus
from tests.progress.helpers import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SUMMARY_KEYS = ["task", "status", "total", "succeeded", "failed", "failed_nodes"]


@pytest.fixture(autouse=True)
def worker(task_worker):
    return task_worker()


@pytest.fixture
def node_batch(test_database_env):
    env = {**test_database_env, "PATH": "/usr/bin:/bin"}

    def run(*args, timeout=240) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", "node_batch", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout)

    return run


@pytest.fixture(scope="module")
def shared_sim(tmp_path_factory):
    from tests.fixtures.kube import start_kube_sim

    sim = start_kube_sim(tmp_path_factory.mktemp("node_batch_sim"), nodes=12)
    yield sim
    sim.stop()


def summary_of(out: subprocess.CompletedProcess) -> dict:
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, out.stdout  # --json: one line, nothing else on stdout
    summary = json.loads(lines[0])
    assert list(summary) == SUMMARY_KEYS
    for item in summary["failed_nodes"]:
        assert list(item) == ["node", "error"] and item["error"]
    return summary


def import_sim(sim, name="sim"):
    from nodes.services import import_cluster

    return import_cluster(name, sim.kubeconfig_text, simulated=True)


def test_exit_0_and_exact_summary_when_every_node_succeeded(kube_sim, node_batch):
    cluster = import_sim(kube_sim(nodes=12))
    make_user("ann", role="admin")
    names = ["worker-0001", "worker-0002", "worker-0003"]
    out = node_batch("--cluster", cluster.name, "--user", "ann", "--action", "cordon", "--reason", "rack 4",
                     "--nodes", ",".join(names), "--concurrency", "2", "--wait", "--json")
    assert out.returncode == 0, out.stderr
    summary = summary_of(out)
    task = ProgressTask.objects.get(pk=summary["task"])
    assert summary == {"task": str(task.pk), "status": "succeeded", "total": 3, "succeeded": 3, "failed": 0,
                       "failed_nodes": []}
    assert task.status == TaskStatus.SUCCEEDED and task.nodes == names and task.concurrency == 2
    assert task.parameters == {"reason": "rack 4"}
    assert sorted(AuditEntry.objects.filter(task_id=task.pk, outcome="succeeded").values_list("node", flat=True)) \
        == names
    final = ProgressMessage.objects.get(task=task, seq=task.last_seq)
    assert final.type == MessageType.COMPLETE and task.last_seq == 4


def test_exit_1_with_every_failed_node_in_the_summary(kube_sim, node_batch):
    cluster = import_sim(kube_sim(nodes=40, fail_rate=0.3, seed=5))
    make_user("ann", role="admin")
    out = node_batch("--cluster", cluster.name, "--user", "ann", "--action", "label", "--set", "team=a",
                     "--all", "--wait", "--json")
    assert out.returncode == 1, out.stderr
    summary = summary_of(out)
    task = ProgressTask.objects.get(pk=summary["task"])
    failed = dict(AuditEntry.objects.filter(task_id=task.pk, outcome="failed").values_list("node", "error"))
    assert summary["status"] == "failed" == task.status
    assert summary["total"] == task.total == 40
    assert 0 < summary["failed"] == len(failed) == task.failed < 40
    assert summary["succeeded"] == task.succeeded == 40 - len(failed)
    assert {f["node"]: f["error"] for f in summary["failed_nodes"]}.keys() == failed.keys()
    assert all("injected failure" in f["error"] for f in summary["failed_nodes"])


def test_exit_1_in_plain_output_names_the_failed_nodes(kube_sim, node_batch):
    cluster = import_sim(kube_sim(nodes=5, fail_rate=1.0))
    make_user("ann", role="admin")
    out = node_batch("--cluster", cluster.name, "--user", "ann", "--action", "uncordon", "--all", "--wait")
    assert out.returncode == 1, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "failed: 0 succeeded, 5 failed of 5"
    assert len(lines) == 6 and all("injected failure" in line for line in lines[1:])
    assert ProgressTask.objects.get().status == TaskStatus.FAILED


@pytest.mark.parametrize("args, message", [
    (["--action", "explode", "--all"], "invalid choice: 'explode'"),
    (["--action", "label", "--set", "bad key!=x", "--all"], "bad key!"),
    (["--action", "label", "--set", "team=a"], "one of the arguments --nodes --selector --all is required"),
    (["--action", "cordon", "--nodes", "worker-001", "--all"], "not allowed with argument"),
    (["--action", "cordon", "--nodes", "no-such-node"], "no-such-node"),
    (["--action", "cordon", "--selector", "=bad="], "=bad="),
    (["--action", "cordon", "--all", "--concurrency", "21"],
     "--concurrency: Concurrency must be a whole number from 1 to 20; 21 is not"),
    (["--action", "cordon", "--all", "--concurrency", "abc"],
     "--concurrency: Concurrency must be a whole number from 1 to 20; 'abc' is not one"),
    (["--action", "drain", "--all", "--concurrency", "6"], "Concurrency must be a whole number from 1 to 5; 6 is not"),
    (["--action", "drain", "--all", "--timeout", "0"], "--timeout: Timeout (s) must be a whole number from 1 to 86400"),
    (["--action", "drain", "--all", "--pod-selector", "a b"], "--pod-selector: invalid pod selector 'a b'"),
    (["--action", "taint", "--taint", "foo=bar:Sometimes", "--all"],
     "--taint: 'foo=bar:Sometimes': invalid effect 'Sometimes': must be NoSchedule, PreferNoSchedule or NoExecute"),
    (["--action", "label", "--template", "nope", "--all"], "--template: no template 'nope'"),
    (["--action", "cordon", "--all", "--force"], "--force apply to --action drain only"),
    (["--action", "taint", "--taint", "dedicated=gpu", "--all"], "needs an effect"),
    (["--cluster", "nowhere", "--action", "cordon", "--all"], "no cluster 'nowhere'"),
    (["--user", "nobody", "--action", "cordon", "--all"], "no user 'nobody'"),
])
def test_exit_2_for_bad_arguments_and_nothing_is_created(shared_sim, node_batch, args, message):
    sim_cluster = import_sim(shared_sim)
    make_user("ann", role="admin")
    base = {"--cluster": sim_cluster.name, "--user": "ann"}
    for flag in ("--cluster", "--user"):
        if flag in args:
            base[flag] = args[args.index(flag) + 1]
            args = args[:args.index(flag)] + args[args.index(flag) + 2:]
    out = node_batch(*[x for pair in base.items() for x in pair], *args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert message in out.stderr
    assert out.stdout == ""
    assert not ProgressTask.objects.exists() and not AuditEntry.objects.exists()


def test_drain_with_every_kubectl_option(kube_sim, node_batch):
    from tests.nodes.conftest import core_api

    sim = kube_sim(nodes=14, seed=11)
    cluster = import_sim(sim)
    make_user("ann", role="admin")
    api = core_api(sim.kubeconfig)
    pods = api.list_pod_for_all_namespaces().items
    # a node whose ledger pod a PodDisruptionBudget never lets go: only --disable-eviction drains it
    node = sorted(p.spec.node_name for p in pods if p.metadata.name.startswith("ledger-")
                  and (p.spec.node_name or "").startswith("worker"))[0]
    on_node = [p for p in pods if p.spec.node_name == node]
    out = node_batch("--cluster", cluster.name, "--user", "ann", "--action", "drain", "--nodes", node,
                     "--reason", "kernel 6.8", "--ignore-daemonsets", "--delete-emptydir-data", "--force",
                     "--grace-period", "0", "--timeout", "60", "--pod-selector", "!kubenode.io/absent",
                     "--disable-eviction", "--skip-wait-for-delete-timeout", "30", "--concurrency", "1", "--wait",
                     "--json")
    assert out.returncode == 0, (out.stdout, out.stderr)
    summary = summary_of(out)
    assert (summary["status"], summary["succeeded"], summary["failed"]) == ("succeeded", 1, 0)
    task = ProgressTask.objects.get(pk=summary["task"])
    assert task.parameters == {"reason": "kernel 6.8", "ignore_daemonsets": True, "delete_emptydir_data": True,
                               "force": True, "grace_period": 0, "timeout": 60, "pod_selector": "!kubenode.io/absent",
                               "disable_eviction": True, "skip_wait_for_delete_timeout": 30}
    assert task.concurrency == 1
    assert api.read_node(node).spec.unschedulable is True
    left = [p for p in api.list_pod_for_all_namespaces().items if p.spec.node_name == node]
    assert all(any(o.kind == "DaemonSet" for o in p.metadata.owner_references or [])
               or p.status.phase in ("Succeeded", "Failed") for p in left)
    assert len(left) < len(on_node)
    audit = AuditEntry.objects.get(task_id=task.pk)
    assert (audit.node, audit.action, audit.outcome, audit.reason) == (node, "drain", "succeeded", "kernel 6.8")
    assert any(p["name"].startswith("ledger-") and p["action"] == "deleted" for p in audit.after["pods"]), \
        audit.after["pods"]


def test_without_wait_the_task_is_queued_and_a_worker_runs_it(kube_sim, node_batch, worker):
    cluster = import_sim(kube_sim(nodes=8))
    make_user("ann", role="admin")
    worker.request_stop()  # no worker takes it: it stays queued
    out = node_batch("--cluster", cluster.name, "--user", "ann", "--action", "cordon", "--all", "--json")
    assert out.returncode == 0, out.stderr
    summary = summary_of(out)
    task = ProgressTask.objects.get(pk=summary["task"])
    assert summary == {"task": str(task.pk), "status": "pending", "total": 8, "succeeded": 0, "failed": 0,
                       "failed_nodes": []}
    assert task.status == TaskStatus.PENDING and task.last_seq == 0
    out = node_batch("--cluster", cluster.name, "--user", "ann", "--action", "cordon", "--all")
    assert out.returncode == 0 and out.stdout.startswith("queued: task "), out.stdout


def test_wait_on_a_terminal_shows_a_progress_bar(shared_sim, test_database_env):
    import os
    import pty

    cluster = import_sim(shared_sim)
    make_user("ann", role="admin")
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "manage.py", "node_batch", "--cluster", cluster.name, "--user", "ann",
                             "--action", "uncordon", "--all", "--wait"], cwd=ROOT,
                            env={**test_database_env, "PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE,
                            stderr=terminal, text=True)
    os.close(terminal)
    shown = b""
    try:
        while True:  # read as it is written, so the command never blocks on a full terminal
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the command closed the terminal's other end
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
    out = proc.stdout.read()
    proc.wait(60)
    assert proc.returncode == 0
    task = ProgressTask.objects.get()
    screen = shown.decode()
    assert f"task {task.pk}: uncordon on 12 node(s) of sim" in screen
    assert f"[{'#' * 40}] 12/12 ok 12 failed 0" in screen
    assert out.strip() == "succeeded: 12 succeeded, 0 failed of 12"
