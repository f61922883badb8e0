"""Graceful SIGTERM of each role, started as production starts it.

- A worker (`manage.py progress_worker`): stops claiming, lets the node operations in flight finish within
  `worker.shutdown_grace`, records them, hands the rest back (`pending`, results kept), exits 0. A cordon batch
  longer than the grace stops at a node boundary; a drain blocked by a PodDisruptionBudget is cut at the deadline
  and its node goes back to the queue without a result. Another worker then finishes what was handed back.
- The embedded default (SQLite, `entrypoint.sh serve`, the worker loop inside the web process): not ready, new
  batches refused with a clear message, operations in flight finish within `server.shutdown_grace`, the rest is
  handed back and runs when the process starts again. Nothing ends `interrupted`.
- Idle processes exit 0 long before their grace.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import time

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from nodes import batches
from nodes.models import AuditEntry
from progress.models import MessageType, ProgressMessage, ProgressTarget, ProgressTask, TaskStatus
from tests.progress.helpers import assert_rows_exact, make_user, until

from .conftest import entrypoint_env, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

GRACE_S = 6


def _unschedulable(sim, names: set[str]) -> set[str]:
    response = requests.get(f"{sim.url}/api/v1/nodes", headers={"Authorization": f"Bearer {sim.admin_token}"},
                            timeout=30)
    return {n["metadata"]["name"] for n in response.json()["items"]
            if n["metadata"]["name"] in names and n.get("spec", {}).get("unschedulable")}


def _status(url: str) -> int | None:
    """The HTTP status, or None for a request cut by the signal."""
    try:
        return requests.get(url, timeout=2).status_code
    except (requests.ConnectionError, requests.Timeout):
        return None


def _blocked_and_cordon_nodes(cluster, count: int) -> tuple[str, list[str]]:
    from nodes.selectors import get_node, list_nodes

    workers = [n.name for n in list_nodes(cluster) if n.name.startswith("worker") and n.status == "Ready"]
    blocked = next(n for n in workers if any(p["name"].startswith("ledger-") for p in get_node(cluster, n).pods))
    return blocked, [n for n in workers if n != blocked][:count]


BLOCKED_DRAIN = {"timeout": 600, "ignore_daemonsets": True, "delete_emptydir_data": True, "force": True}


def test_worker_sigterm_finishes_what_runs_hands_the_rest_back_and_exits_0(kube_sim, worker_processes):
    from nodes.roles import ensure_groups
    from nodes.services import import_cluster

    ensure_groups()
    sim = kube_sim(nodes=60, latency_ms=120)
    cluster = import_cluster("sim", sim.kubeconfig_text, simulated=True)
    blocked, cordon_nodes = _blocked_and_cordon_nodes(cluster, 40)
    ann = make_user("ann", role="admin")
    worker = worker_processes("w-term", concurrency=4, WORKER_SHUTDOWN_GRACE=str(GRACE_S), LOG_FORMAT="json")
    # one node at a time, ~0.25 s each: 40 nodes take far longer than the grace
    cordon = batches.start_batch(ann, cluster, "cordon", {"reason": "rack move"}, names=cordon_nodes, concurrency=1)
    drain = batches.start_batch(ann, cluster, "drain", BLOCKED_DRAIN, names=[blocked])
    wait_for(lambda: ProgressTask.objects.get(pk=cordon.pk).done >= 2, "the cordon batch to make progress")
    # the drain cordons first, then waits on the budget: cordoned means its node operation is in flight
    wait_for(lambda: _unschedulable(sim, {blocked}) == {blocked}, "the drain to cordon its node")
    assert worker.readyz()[0] == 200

    worker.process.send_signal(signal.SIGTERM)
    wait_for(lambda: worker.readyz()[0] == 503, "the worker's readyz to answer 503", 10)
    assert worker.readyz()[1]["status"] == "shutting down"
    assert worker.get("/healthz")[0] == 200  # alive: no restart while it finishes
    assert worker.process.wait(timeout=GRACE_S + 30) == 0
    log = worker.log()
    assert '"event": "worker_stopped"' in log and '"clean": true' in log

    # The cordon batch stopped at a node boundary and went back to the queue: every node it touched has its
    # result, and only those; no final message (nothing ends interrupted); nothing is written after the exit.
    cordon = ProgressTask.objects.get(pk=cordon.pk)
    assert cordon.status == TaskStatus.PENDING and cordon.owner == "" and 2 <= cordon.done < cordon.total
    rows = assert_rows_exact(cordon)
    assert {m.type for m in rows} == {MessageType.PROGRESS}
    recorded = {m.node for m in rows}
    assert set(AuditEntry.objects.filter(task_id=cordon.pk).values_list("node", flat=True)) == recorded
    assert _unschedulable(sim, set(cordon_nodes)) == recorded
    assert not ProgressTarget.objects.filter(task=cordon, done=False).exclude(worker="").exists()
    time.sleep(1)
    assert ProgressTask.objects.get(pk=cordon.pk).last_seq == cordon.last_seq

    # The drain: still blocked at the deadline, told to stop, its node handed back with no result.
    drain = ProgressTask.objects.get(pk=drain.pk)
    assert drain.status == TaskStatus.PENDING and drain.last_seq == 0 and drain.done == 0
    assert list(ProgressTarget.objects.filter(task=drain).values_list("worker", "done")) == [("", False)]

    # Another worker continues the cordon batch where it stopped; the drain is cancelled, nobody holds it.
    batches.cancel_batch(drain, ann)
    assert ProgressTask.objects.get(pk=drain.pk).status == TaskStatus.CANCELLED
    worker_processes("w-next", concurrency=4)
    cordon = until(lambda: (t := ProgressTask.objects.get(pk=cordon.pk)).is_finished and t, 120)
    assert cordon.status == TaskStatus.SUCCEEDED and cordon.succeeded == cordon.total == 40
    rows = assert_rows_exact(cordon)
    assert rows[-1].type == MessageType.COMPLETE and rows[-1].seq == 41
    assert sorted(AuditEntry.objects.filter(task_id=cordon.pk).values_list("node", flat=True)) == sorted(cordon_nodes)


def _admin_password() -> str:
    hasher = PBKDF2PasswordHasher()
    return hasher.encode("secret-pw", hasher.salt())


def _login(base: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/login/", timeout=10)
    response = session.post(f"{base}/login/", timeout=10, allow_redirects=False, data={
        "username": "ops-admin", "password": "secret-pw", "csrfmiddlewaretoken": session.cookies["csrftoken"]})
    assert response.status_code == 302, response.text[:500]
    return session


def _submit(session: requests.Session, base: str, action: str, nodes: list[str], **fields) -> requests.Response:
    data = {"action": action, "node": nodes, "confirm": "yes", "csrfmiddlewaretoken": session.cookies["csrftoken"],
            **fields}
    return session.post(f"{base}/clusters/sim/nodes/action/", data=data, timeout=30, allow_redirects=False)


def _task_id(response: requests.Response) -> str:
    assert response.status_code == 302, response.text[:1000]
    return re.search(r"task=([0-9a-f-]{36})", response.headers["Location"]).group(1)


def _manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    import sys

    from tests.ops.conftest import ROOT

    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=entrypoint_env(env),
                          capture_output=True, text=True, timeout=120)


def test_embedded_sigterm_refuses_batches_hands_back_and_the_next_start_finishes(kube_sim, app_server, tmp_path):
    sim = kube_sim(nodes=60, latency_ms=120)
    env = {"DB_TYPE": "sqlite", "DB_NAME": str(tmp_path / "embedded.sqlite3"), "KUBENODE_DATA_DIR": str(tmp_path),
           "SHUTDOWN_GRACE": str(GRACE_S), "LOG_FORMAT": "json", "PROGRESS_NOTIFY_TYPE": "memory"}
    for key in ("DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD"):
        env[key] = ""
    env["SECRET_KEY"] = "embedded-test-secret-" + "x" * 40
    for args in (["migrate", "-v0"], ["cluster_import", sim.kubeconfig, "--name", "sim", "--simulated"],
                 ["shell", "-c", "from django.contrib.auth.models import User; User.objects.create(username="
                                 f"'ops-admin', is_staff=True, is_superuser=True, password={_admin_password()!r})"]):
        done = _manage(env, *args)
        assert done.returncode == 0, done.stderr
    db = sqlite3.connect(env["DB_NAME"])

    def task(task_id) -> dict:
        row = db.execute("SELECT status, done, total, last_seq, owner FROM progress_progresstask WHERE id = ?",
                         (task_id.replace("-", ""),)).fetchone()
        return dict(zip(("status", "done", "total", "last_seq", "owner"), row, strict=True))

    server = app_server("embedded", **env)
    assert '"mode": "embedded"' in server.log()
    session = _login(server.http_url)
    nodes = [f"worker-{i:04d}" for i in range(3, 60)]
    ready = requests.get(f"{sim.url}/api/v1/nodes", headers={"Authorization": f"Bearer {sim.admin_token}"},
                         timeout=30).json()["items"]
    ledger_nodes = {p["spec"].get("nodeName") for p in requests.get(
        f"{sim.url}/api/v1/pods", headers={"Authorization": f"Bearer {sim.admin_token}"}, timeout=30).json()["items"]
        if p["metadata"]["name"].startswith("ledger-")}
    ready_names = {n["metadata"]["name"] for n in ready if any(c["type"] == "Ready" and c["status"] == "True"
                                                               for c in n["status"]["conditions"])}
    blocked = sorted(n for n in ledger_nodes if n in ready_names and n.startswith("worker"))[0]
    cordon_nodes = [n for n in nodes if n != blocked and n in ready_names][:30]
    cordon_id = _task_id(_submit(session, server.http_url, "cordon", cordon_nodes, concurrency="1",
                                 reason="rack move"))
    drain_id = _task_id(_submit(session, server.http_url, "drain", [blocked], timeout="600",
                                ignore_daemonsets="on", delete_emptydir_data="on", force="on"))
    wait_for(lambda: task(cordon_id)["done"] >= 2, "the cordon batch to make progress")
    wait_for(lambda: _unschedulable(sim, {blocked}) == {blocked}, "the drain to cordon its node")

    server.process.send_signal(signal.SIGTERM)
    # While the drain holds the shutdown for its grace: not ready, and new batches are refused.
    wait_for(lambda: _status(f"{server.http_url}/readyz") == 503, "readyz 503", 10)
    assert requests.get(f"{server.http_url}/readyz", timeout=10).json()["status"] == "shutting down"
    refused = _submit(session, server.http_url, "cordon", [cordon_nodes[-1]], reason="late")
    assert refused.status_code == 400 and "shutting down and accepts no new batches" in refused.text
    assert requests.get(f"{server.http_url}/healthz", timeout=10).status_code == 200
    assert server.process.wait(timeout=GRACE_S + 30) == 0
    assert '"event": "shutdown_done"' in server.log()

    cordon = task(cordon_id)
    assert cordon["status"] == "pending" and 2 <= cordon["done"] < cordon["total"] and cordon["owner"] == ""
    assert task(drain_id)["status"] == "pending" and task(drain_id)["last_seq"] == 0
    kinds = {r[0] for r in db.execute("SELECT type FROM progress_progressmessage WHERE task_id = ?",
                                      (cordon_id.replace("-", ""),))}
    assert kinds == {"progress"}  # handed back, not interrupted
    time.sleep(1)
    assert task(cordon_id)["last_seq"] == cordon["last_seq"]

    # the drain would block again: cancel it while nothing runs; the next start finishes the cordon batch
    done = _manage(env, "shell", "-c", f"from nodes import batches; from progress.models import ProgressTask; "
                                       f"t = ProgressTask.objects.get(pk='{drain_id}'); "
                                       f"batches.cancel_batch(t, t.user)")
    assert done.returncode == 0, done.stderr
    assert task(drain_id)["status"] == "cancelled"
    app_server("embedded-again", **env)
    wait_for(lambda: task(cordon_id)["status"] == "succeeded", "the cordon batch to finish after the restart", 120)
    cordon = task(cordon_id)
    seqs = [r[0] for r in db.execute("SELECT seq FROM progress_progressmessage WHERE task_id = ? ORDER BY seq",
                                     (cordon_id.replace("-", ""),))]
    assert seqs == list(range(1, cordon["last_seq"] + 1)) and cordon["last_seq"] == cordon["total"] + 1
    audited = [r[0] for r in db.execute("SELECT node FROM nodes_auditentry WHERE task_id = ?",
                                        (cordon_id.replace("-", ""),))]
    assert sorted(audited) == sorted(cordon_nodes)
    db.close()


def test_new_batches_are_refused_while_shutting_down_and_nothing_is_recorded(kube_sim):
    from kubenode import runtime
    from nodes.services import import_cluster

    cluster = import_cluster("sim", kube_sim(nodes=8).kubeconfig_text, simulated=True)
    ann = make_user("ann")
    runtime.begin_shutdown()
    try:
        with pytest.raises(Exception, match="shutting down and accepts no new batches"):
            batches.start_batch(ann, cluster, "cordon", {"reason": "late"}, all_nodes=True)
    finally:
        runtime.reset_shutdown()
    assert not ProgressTask.objects.exists() and not ProgressMessage.objects.exists()


def test_idle_web_and_worker_exit_0_long_before_their_grace(app_server, worker_processes):
    server = app_server("ops-idle", SHUTDOWN_GRACE="120")
    worker = worker_processes("w-idle", WORKER_SHUTDOWN_GRACE="120")
    assert requests.get(f"{server.http_url}/readyz", timeout=10).status_code == 200
    assert worker.readyz()[0] == 200
    server.process.send_signal(signal.SIGTERM)
    worker.process.send_signal(signal.SIGTERM)
    # nothing in flight: neither waits for its 120 s grace
    assert server.process.wait(timeout=20) == 0 and worker.process.wait(timeout=20) == 0
    assert "shutdown: done" in server.log() and "worker w-idle stopped in" in worker.log()
