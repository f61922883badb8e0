"""The three roles as real processes on PostgreSQL: web processes that never run batches, worker processes that do.

- A 2,000-node batch started from a page on web A and watched on web B while two of three workers share it: one
  gets SIGTERM mid-batch (its nodes in flight finish, the rest is handed back), then, in a second batch, one is
  killed with SIGKILL (its nodes are taken over once its lease expires and run again when they have no result).
  Each batch ends `succeeded`, one audit entry per node, the client sees seq 1..N+1 once and one completion. The
  per-cluster limit holds across the worker processes: the simulator's most requests in flight reach it, never more.
- A task queued while no worker runs starts when one starts; a worker cut off from the database while a task is
  queued finds it as soon as it reconnects (not at its safety poll); a page asked to start a batch while its own
  database is unreachable records nothing.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error

import pytest

from nodes.models import AuditEntry
from progress.models import MessageType, ProgressTarget, ProgressTask, TaskStatus
from tests.progress.helpers import assert_rows_exact, until
from tests.progress.test_live_daphne import Browserless, _user, open_ws, recv
from tests.replicas.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.timeout(600)]

FINAL = {"complete", "error", "cancelled", "interrupted"}
NODES = 2000


@pytest.fixture
def cluster(kube_sim):
    from nodes.roles import ensure_groups
    from nodes.services import import_cluster

    ensure_groups()
    sim = kube_sim(nodes=NODES, latency_ms=15, seed=3)  # requests, not our overhead, fill the time of a node
    cluster = import_cluster("sim", sim.kubeconfig_text, simulated=True)
    cluster.sim = sim
    _user("ann", "operator")
    return cluster


def node_names(cluster) -> list[str]:
    from nodes.selectors import list_nodes

    return sorted(n.name for n in list_nodes(cluster))


def start_from_page(client: Browserless, names: list[str], label: str, concurrency: int = 20) -> str:
    response = client.post("/clusters/sim/nodes/action/", [("action", "label"), ("set", f"wave={label}"),
                                                          ("targets", ",".join(names)),
                                                          ("concurrency", str(concurrency)), ("confirm", "yes")])
    return re.search(r"[?&]task=([0-9a-f-]{36})", response.geturl()).group(1)


def messages_of(frame) -> list[dict]:
    """The messages a WebSocket frame carries (one message, or several in one frame)."""
    if isinstance(frame, list):
        return frame
    if isinstance(frame.get("messages"), list):
        return frame["messages"]
    return [frame]


def watch(ws, task_id: str, on_message=None, timeout: float = 400) -> list[dict]:
    """Every message of the task until its final one; any protocol error or message of another task fails."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while not got or got[-1]["type"] not in FINAL:
        frame = json.loads(ws.recv(timeout=max(1.0, deadline - time.monotonic())))
        for message in messages_of(frame):
            if message.get("type") == "snapshot":
                continue
            assert message.get("type") != "protocol_error", message
            assert message["task"] == task_id, message
            got.append(message)
            if on_message is not None:
                on_message(got)
    return got


def assert_delivered_once_and_recorded_once(frames: list[dict], task_id: str) -> ProgressTask:
    task = ProgressTask.objects.get(pk=task_id)
    assert task.status == TaskStatus.SUCCEEDED and task.succeeded == task.total == NODES
    assert [f["seq"] for f in frames] == list(range(1, NODES + 2)), "a seq lost, repeated or out of order"
    assert [f["type"] for f in frames].count("complete") == 1 and frames[-1]["type"] == "complete"
    assert sorted(f["node"] for f in frames if f["type"] == "progress") == sorted(task.nodes)
    rows = assert_rows_exact(task)
    assert rows[-1].type == MessageType.COMPLETE
    audited = list(AuditEntry.objects.filter(task_id=task_id).values_list("node", flat=True))
    assert sorted(audited) == sorted(task.nodes), "every node labelled once, on record"
    return task


def holding(task_id: str, workers) -> list:
    """The workers that hold nodes of the task without a recorded result, most first."""
    held = {w.name: ProgressTarget.objects.filter(task_id=task_id, worker=w.name, done=False).count() for w in workers}
    return sorted((w for w in workers if held[w.name]), key=lambda w: -held[w.name])


def test_two_webs_three_workers_sigterm_then_sigkill_mid_batch(cluster, roles):
    # 18 node threads in three processes, a per-cluster limit of 10 for all of them together
    running = roles(webs=2, workers=3, concurrency=6, lease=3, WORKER_SHUTDOWN_GRACE="60",
                    worker_env={"BATCH_CONCURRENCY": "10"})
    web_a, web_b = running.webs
    names = node_names(cluster)
    on_a, on_b = Browserless(web_a.http_url), Browserless(web_b.http_url)
    on_a.login("ann", "secret-pw")
    ws = open_ws(web_b, on_b.login("ann", "secret-pw"))
    assert recv(ws)["type"] == "snapshot"

    # 1. SIGTERM: a worker finishes its nodes in flight, hands the rest back, exits 0; the others finish.
    # It goes, from the 300th message on, to the worker holding the most nodes without a result (ten slots for
    # eighteen threads: which workers hold them is up to the race for slots, so the test picks a busy one).
    terminated: list = []

    def sigterm_when_busy(got):
        if len(got) == 20:  # under way: from here on only the workers' node operations reach the cluster
            cluster.sim.stats(reset=True)
        if len(got) >= 300 and not terminated and (busy := holding(task_id, running.workers)):
            terminated.append(busy[0])
            busy[0].process.send_signal(15)

    task_id = start_from_page(on_a, names, "one")
    frames = watch(ws, task_id, sigterm_when_busy)
    assert terminated, "no worker held nodes while the batch ran"
    one = terminated[0]
    assert one.process.wait(60) == 0
    stats = cluster.sim.stats()
    assert stats["max_in_flight"] == 10, stats  # the limit was reached and held across the three processes
    task = assert_delivered_once_and_recorded_once(frames, task_id)
    claimers = set(ProgressTarget.objects.filter(task=task).values_list("worker", flat=True))
    assert one.name in claimers and claimers - {one.name}, claimers  # handed back, finished by the others
    # a clean stop: every result of the stopped worker recorded (no "could not be recorded"), nothing cut
    assert re.search(rf"^.*worker {one.name} stopped in [0-9.]+s$", one.log(), re.M), one.log()[-2000:]
    assert "shutdown grace" not in one.log() and "cut by the shutdown deadline" not in one.log()

    # 2. SIGKILL: one of the two left dies with nodes claimed; after its lease (3 s) the last one takes them over
    left = [w for w in running.workers if w is not one]
    takeovers_before = {w.name: float(re.search(r"^kubenode_worker_takeovers_total ([0-9.]+)$", w.metrics(), re.M)
                                      .group(1)) for w in left}
    killed: list = []

    def sigkill_when_busy(got):
        if len(got) >= 300 and not killed and (busy := holding(task_id, left)):
            busy[0].kill()
            # what the dead worker held without a recorded result: exactly what must be taken over
            killed.append((busy[0], ProgressTarget.objects.filter(task_id=task_id, worker=busy[0].name,
                                                                  done=False).count()))

    task_id = start_from_page(on_a, names, "two")
    frames = watch(ws, task_id, sigkill_when_busy)
    assert killed, "no worker held nodes while the batch ran"
    (two, held), = killed
    three = next(w for w in left if w is not two)
    assert held > 0 and two.process.returncode == -9
    task = assert_delivered_once_and_recorded_once(frames, task_id)
    assert task.owner == three.name
    assert not ProgressTarget.objects.filter(task=task, worker=two.name, done=False).exists()
    taken = ProgressTarget.objects.filter(task=task, worker=three.name).count()
    assert taken >= held
    # the survivor took over exactly the nodes the dead worker left without a result, counted by its metric and
    # its log (through a claim of a dead worker's nodes, or through its sweep when that ran first: the same count)
    after = re.search(r"^kubenode_worker_takeovers_total ([0-9.]+)$", three.metrics(), re.M)
    assert after and float(after.group(1)) - takeovers_before[three.name] == held, (held, takeovers_before, after)
    log = three.log()
    claimed = re.findall(rf"task={task_id}: (\d+) node\(s\) of {two.name} \(lease expired, no result recorded\) "
                         rf"taken over by {three.name}", log)
    swept = re.findall(rf"task={task_id}: worker {two.name} stopped renewing its lease; (\d+) node\(s\)", log)
    assert sum(map(int, claimed + swept)) == held, (held, claimed, swept)
    ws.close()


def test_queued_with_no_worker_then_a_worker_cut_off_from_the_database_finds_work_when_it_reconnects(
        kube_sim, roles, worker_processes, test_database_env):
    from nodes.roles import ensure_groups
    from nodes.services import import_cluster

    ensure_groups()
    sim = kube_sim(nodes=30, latency_ms=2)
    cluster = import_cluster("sim", sim.kubeconfig_text, simulated=True)
    _user("ann", "operator")
    running = roles(webs=1, workers=0)
    web = running.webs[0]
    client = Browserless(web.http_url)
    client.login("ann", "secret-pw")
    names = node_names(cluster)

    # 1. no worker: the task waits, queued
    first = start_from_page(client, names[:10], "queued")
    time.sleep(2)
    assert ProgressTask.objects.get(pk=first).status == TaskStatus.PENDING

    # a worker whose database connections go through a proxy; its safety poll is ten minutes
    real = (test_database_env["DB_HOST"], int(test_database_env["DB_PORT"]))
    proxy = TcpProxy(real).start()
    worker = worker_processes("w-proxied", DB_HOST="127.0.0.1", DB_PORT=str(proxy.port),
                              PROGRESS_SAFETY_POLL_INTERVAL="600000")
    assert until(lambda: (t := ProgressTask.objects.get(pk=first)).is_finished and t, 60).status == \
        TaskStatus.SUCCEEDED

    # 2. the worker loses the database; a task is queued meanwhile (its doorbell never reaches the worker)
    port = proxy.port
    proxy.stop()
    until(lambda: "worker doorbell (postgres) lost" in worker.log(), 30, what="the worker noticing")
    second = start_from_page(client, names[10:20], "while-cut-off")
    time.sleep(2)
    assert ProgressTask.objects.get(pk=second).status == TaskStatus.PENDING
    proxy = TcpProxy(real, port=port).start()
    try:
        # found on reconnect, long before the ten-minute safety poll
        task = until(lambda: (t := ProgressTask.objects.get(pk=second)).is_finished and t, 90)
        assert task.status == TaskStatus.SUCCEEDED and task.owner == "w-proxied"
        # found once the database is back: by the worker's short poll while its doorbell is lost, or by the doorbell
        # reconnecting, whichever comes first; both within seconds, never at the ten-minute safety poll
        assert re.search(r"worker doorbell \(postgres\) lost: .*; polling the queue until it is back", worker.log())
    finally:
        worker.stop()
        proxy.stop()

    # 3. the web process's own database is unreachable: the page says so and nothing is recorded
    web_proxy = TcpProxy(real).start()
    cut = roles(webs=1, workers=0, DB_HOST="127.0.0.1", DB_PORT=str(web_proxy.port)).webs[0]
    cut_client = Browserless(cut.http_url)
    cut_client.login("ann", "secret-pw")
    web_proxy.stop()
    before = ProgressTask.objects.count()
    with pytest.raises(urllib.error.HTTPError) as refused:  # an error page, not a task page
        start_from_page(cut_client, names[20:], "cut")
    assert refused.value.code >= 500
    assert ProgressTask.objects.count() == before
