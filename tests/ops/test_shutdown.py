"""Graceful SIGTERM of the application started as the container starts it (scripts/entrypoint.sh serve).

Two batches run against the simulated cluster (every request delayed by --latency-ms): a cordon of many nodes
one at a time, and a drain blocked by a PodDisruptionBudget that never allows a disruption (it would retry for
minutes). On SIGTERM the replica reports not ready, refuses new batches with a clear message, lets the running
node operations finish until SHUTDOWN_GRACE, marks what is unfinished `interrupted` keeping every per-node
result, and exits 0.
"""

from __future__ import annotations

import re
import signal
import time

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User

from progress.models import MessageType, ProgressMessage, ProgressTask, TaskStatus

from .conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

GRACE_S = 8


def _admin() -> None:
    hasher = PBKDF2PasswordHasher()  # the served process uses the real settings' hasher
    User.objects.create(username="ops-admin", password=hasher.encode("secret-pw", hasher.salt()),
                        is_staff=True, is_superuser=True)


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


def _status(url: str) -> int | None:
    """The HTTP status, or None for a request cut by the signal: daphne cancels the requests in flight at that
    moment (closed without a response, or left unanswered), as a probe would see once."""
    try:
        return requests.get(url, timeout=2).status_code
    except (requests.ConnectionError, requests.Timeout):
        return None


def _unschedulable(sim, names: set[str]) -> set[str]:
    response = requests.get(f"{sim.url}/api/v1/nodes", headers={"Authorization": f"Bearer {sim.admin_token}"},
                            timeout=30)
    return {n["metadata"]["name"] for n in response.json()["items"]
            if n["metadata"]["name"] in names and n.get("spec", {}).get("unschedulable")}


def test_sigterm_finishes_running_operations_interrupts_the_rest_and_exits_0(kube_sim, app_server):
    from nodes.roles import ensure_groups
    from nodes.selectors import get_node, list_nodes
    from nodes.services import import_cluster

    ensure_groups()
    _admin()
    sim = kube_sim(nodes=40, latency_ms=100)
    cluster = import_cluster("sim", sim.kubeconfig_text, simulated=True)
    workers = [n.name for n in list_nodes(cluster) if n.name.startswith("worker") and n.status == "Ready"]
    blocked = next(n for n in workers if any(p["name"].startswith("ledger-") for p in get_node(cluster, n).pods))
    cordon_nodes = [n for n in workers if n != blocked][:25]

    server = app_server("ops-term", SHUTDOWN_GRACE=str(GRACE_S), LOG_FORMAT="json")
    session = _login(server.http_url)
    cordon_id = _task_id(_submit(session, server.http_url, "cordon", cordon_nodes, concurrency="1",
                                 reason="rack move"))
    drain_id = _task_id(_submit(session, server.http_url, "drain", [blocked], timeout="600",
                                ignore_daemonsets="on", delete_emptydir_data="on", force="on"))
    wait_for(lambda: ProgressTask.objects.get(pk=cordon_id).done >= 2, "the cordon batch to make progress")
    # the drain cordons first, then waits on the budget: cordoned means its node operation is in flight
    wait_for(lambda: _unschedulable(sim, {blocked}) == {blocked}, "the drain to cordon its node")
    assert requests.get(f"{server.http_url}/readyz", timeout=10).status_code == 200

    server.process.send_signal(signal.SIGTERM)

    # While the drain holds the shutdown for its grace: not ready, and new batches are refused.
    wait_for(lambda: _status(f"{server.http_url}/readyz") == 503, "readyz 503", 10)
    assert requests.get(f"{server.http_url}/readyz", timeout=10).json()["status"] == "shutting down"
    refused = _submit(session, server.http_url, "cordon", [cordon_nodes[-1]], reason="late")
    assert refused.status_code == 400
    assert "shutting down and accepts no new batches" in refused.text
    assert requests.get(f"{server.http_url}/healthz", timeout=10).status_code == 200  # alive: no restart

    assert server.process.wait(timeout=GRACE_S + 30) == 0
    log = server.log()
    assert '"event": "shutdown_done"' in log

    # The cordon batch: stopped at a node boundary; every node it touched has its result row, and only those.
    cordon = ProgressTask.objects.get(pk=cordon_id)
    assert cordon.status in (TaskStatus.INTERRUPTED, TaskStatus.SUCCEEDED)
    results = ProgressMessage.objects.filter(task_id=cordon_id, type=MessageType.PROGRESS)
    recorded = {m.node: m.outcome for m in results}
    assert len(recorded) == results.count() == cordon.done
    assert set(recorded.values()) == {"succeeded"}
    assert _unschedulable(sim, set(cordon_nodes)) == set(recorded)
    if cordon.status == TaskStatus.INTERRUPTED:
        assert cordon.done < cordon.total
        last = ProgressMessage.objects.filter(task_id=cordon_id).order_by("-seq").first()
        assert last.type == MessageType.INTERRUPTED and "shut down" in last.error

    # The drain: still blocked at the deadline, told to stop, its outcome recorded, the task interrupted.
    drain = ProgressTask.objects.get(pk=drain_id)
    assert drain.status == TaskStatus.INTERRUPTED
    assert "shut down before the task finished" in drain.error
    node_row = ProgressMessage.objects.get(task_id=drain_id, type=MessageType.PROGRESS)
    assert node_row.node == blocked and node_row.outcome == "failed"
    assert "stopped" in node_row.error and "ledger-" in node_row.error
    assert drain.done == 1 and drain.failed == 1
    # nothing was written after the final message; no task of this replica is left running
    assert not ProgressTask.objects.filter(owner="ops-term", status=TaskStatus.RUNNING).exists()


def test_sigterm_when_idle_exits_0_at_once(app_server):
    server = app_server("ops-idle", SHUTDOWN_GRACE="30")
    assert requests.get(f"{server.http_url}/readyz", timeout=10).status_code == 200
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    assert time.monotonic() - started < 30  # no batch: the grace is not waited for
    assert "shutdown: done" in server.log()
