"""The batch runner's heartbeat, reaper and shutdown, with node operations over real HTTP to the simulator."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from nodes.models import AuditEntry
from progress import runner as runner_module
from progress import services
from progress.models import MessageType, ProgressMessage, ProgressTask, TaskStatus
from progress.runner import Runner, reset_runner
from tests.progress.helpers import make_task, make_user, write_results

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def runners():
    """Factory of Runner instances with their own replica name; every one shut down afterwards."""
    started = []

    def start(replica: str, workers: int = 8) -> Runner:
        runner = Runner(workers=workers, replica=replica)
        started.append(runner)
        return runner

    yield start
    for runner in started:
        runner.shutdown(10)
        runner.pool.shutdown(wait=True)  # node operations stopped by the deadline return before the next test
    reset_runner(10)  # the process-wide runner that ran retries


def import_sim(sim, name="sim"):
    from nodes.services import import_cluster

    return import_cluster(name, sim.kubeconfig_text, simulated=True)


def until(predicate, timeout=120, every=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not reached")


def task_row(task_id) -> ProgressTask:
    return ProgressTask.objects.get(pk=task_id)


def assert_rows_consistent(task: ProgressTask) -> list[ProgressMessage]:
    """seq 1..last_seq without a gap; one progress row per finished node; counters agree with the rows."""
    rows = list(ProgressMessage.objects.filter(task=task).order_by("seq"))
    assert [m.seq for m in rows] == list(range(1, task.last_seq + 1))
    progress = [m for m in rows if m.type == MessageType.PROGRESS]
    assert len(progress) == len({m.node for m in progress}) == task.done
    assert sum(m.outcome == "succeeded" for m in progress) == task.succeeded
    assert sum(m.outcome == "failed" for m in progress) == task.failed
    return rows


def test_heartbeat_advances_while_running_and_the_reaper_takes_only_silent_owners(kube_sim, runners, settings,
                                                                                  monkeypatch):
    monkeypatch.setattr(runner_module, "HEARTBEAT_INTERVAL_S", 0.1)
    monkeypatch.setattr(runner_module, "REAP_INTERVAL_S", 0.2)
    settings.KUBENODE = {**settings.KUBENODE, "HEARTBEAT_TIMEOUT_S": 1.5}
    cluster = import_sim(kube_sim(nodes=24, latency_ms=80))
    ann = make_user("ann")
    # a task whose replica died: it stopped beating long ago, two of its nodes had finished
    orphan = make_task(ann, nodes=5, owner="dead-replica", heartbeat_at=timezone.now() - timedelta(seconds=60))
    write_results(orphan, [("node-00000", True), ("node-00001", False)])
    task = services.create_task(ann, cluster, "cordon", {"reason": "heartbeat"}, all_nodes=True, concurrency=1,
                                submit=False)
    runner = runners("alive")
    assert runner.submit(task.pk)
    beats = set()

    def beating_for_longer_than_the_timeout():
        row = task_row(task.pk)
        if row.status == TaskStatus.RUNNING:
            beats.add(row.heartbeat_at)
        return len(beats) >= 4 and max(beats) - min(beats) > timedelta(seconds=1.5)

    until(beating_for_longer_than_the_timeout)
    orphan = until(lambda: (t := task_row(orphan.pk)).status == TaskStatus.INTERRUPTED and t)
    assert "dead-replica" in orphan.error
    assert (orphan.done, orphan.succeeded, orphan.failed) == (2, 1, 1)  # per-node results kept
    rows = assert_rows_consistent(orphan)
    assert [m.type for m in rows] == ["progress", "progress", MessageType.INTERRUPTED]
    assert task_row(task.pk).status == TaskStatus.RUNNING  # beating: never reaped, though it runs past the timeout
    assert runner.wait(task.pk, 120)
    task = task_row(task.pk)
    assert task.status == TaskStatus.SUCCEEDED and task.owner == "alive"
    assert task.succeeded == task.total == 24 and task.heartbeat_at >= max(beats)
    assert not ProgressMessage.objects.filter(task=task, type=MessageType.INTERRUPTED).exists()


def test_shutdown_stops_at_a_node_boundary_and_interrupts_keeping_every_result(kube_sim, runners):
    sim = kube_sim(nodes=30, latency_ms=40)
    cluster = import_sim(sim)
    ann = make_user("ann")
    task = services.create_task(ann, cluster, "cordon", {"reason": "shutdown"}, all_nodes=True, concurrency=2,
                                submit=False)
    runner = runners("r1")
    assert runner.submit(task.pk)
    until(lambda: task_row(task.pk).done >= 4)
    runner.shutdown(30)  # ample: the nodes in flight finish
    task = task_row(task.pk)
    assert task.status == TaskStatus.INTERRUPTED and "r1 shut down" in task.error
    assert 4 <= task.done < task.total and task.succeeded == task.done and task.finished_at is not None
    rows = assert_rows_consistent(task)
    assert rows[-1].type == MessageType.INTERRUPTED and rows[-1].done == task.done
    # every node operation that started finished and is recorded; none started after the stop
    audited = set(AuditEntry.objects.filter(task_id=task.pk).values_list("node", flat=True))
    assert audited == {m.node for m in rows if m.type == MessageType.PROGRESS}
    from tests.nodes.conftest import core_api

    api = core_api(sim.kubeconfig)
    cordoned = {n.metadata.name for n in api.list_node().items if n.spec.unschedulable}
    assert audited <= cordoned
    assert not runner.submit(task.pk) and runner.running() == []
    late = services.create_task(ann, cluster, "uncordon", {}, all_nodes=True, submit=False)
    assert not runner.submit(late.pk)  # a runner that shut down accepts nothing
    assert task_row(late.pk).status == TaskStatus.PENDING
    time.sleep(0.5)
    assert task_row(task.pk).last_seq == task.last_seq  # nothing written after the final message
    # "retry the rest" picks up exactly the nodes that never ran
    retry = services.retry_task(task, ann)
    assert retry.total == task.total - task.done
    assert set(retry.nodes) == set(task.nodes) - audited
    retry = until(lambda: (t := task_row(retry.pk)).is_finished and t)
    assert retry.status == TaskStatus.SUCCEEDED and retry.succeeded == retry.total


def test_shutdown_deadline_interrupts_a_node_still_in_flight(kube_sim, runners):
    from tests.nodes.conftest import core_api

    sim = kube_sim(nodes=14, seed=11)
    cluster = import_sim(sim)
    api = core_api(sim.kubeconfig)
    blocked = sorted(p.spec.node_name for p in api.list_pod_for_all_namespaces().items
                     if p.metadata.name.startswith("ledger-") and (p.spec.node_name or "").startswith("worker"))[0]
    ann = make_user("ann", role="admin")
    # a PodDisruptionBudget never lets the ledger pod go: this drain would wait for its whole timeout
    task = services.create_task(ann, cluster, "drain", {"ignore_daemonsets": True, "delete_emptydir_data": True,
                                                        "force": True, "timeout": 600}, names=[blocked],
                                submit=False)
    runner = runners("r2")
    assert runner.submit(task.pk)
    until(lambda: api.read_node(blocked).spec.unschedulable)  # the drain is under way
    runner.shutdown(0.5)
    task = task_row(task.pk)
    assert task.status == TaskStatus.INTERRUPTED and "r2 shut down" in task.error
    rows = assert_rows_consistent(task)
    # the drain, told to stop when the deadline passed, either returned before the writer's last flush (a failed
    # row saying it stopped) or after it (no row: the node counts as never finished)
    if task.done:
        assert (task.done, task.failed) == (1, 1) and [m.type for m in rows] == ["progress", "interrupted"]
        assert rows[0].node == blocked and "stop" in rows[0].error, rows[0].error
    else:
        assert [m.type for m in rows] == [MessageType.INTERRUPTED]
    runner.pool.shutdown(wait=True)  # the stopped drain has returned; nothing is written after the final row
    assert task_row(task.pk).last_seq == task.last_seq
    from progress.selectors import remaining_nodes

    assert remaining_nodes(task) == [blocked]  # "retry the rest" would drain it again
