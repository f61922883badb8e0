"""The worker loop (progress.worker) in the test process, against the simulator over real HTTP: limits across
workers, hand-back on shutdown, the shutdown deadline, cancel, takeover of a dead worker's nodes.

The same code runs in `progress_worker` processes (tests/ops/test_worker_processes.py kills real ones).
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from nodes import batches
from nodes.models import AuditEntry
from progress import queue
from progress.models import MessageType, ProgressMessage, ProgressTarget, ProgressTask, ProgressWorker, TaskStatus
from progress.selectors import remaining_nodes
from tests.progress.helpers import assert_rows_exact, make_user, override_config, until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def import_sim(sim, name="sim"):
    from nodes.services import import_cluster

    return import_cluster(name, sim.kubeconfig_text, simulated=True)


def task_row(task_id) -> ProgressTask:
    return ProgressTask.objects.get(pk=task_id)


def finished(task_id, timeout=180) -> ProgressTask:
    return until(lambda: (t := task_row(task_id)).is_finished and t, timeout=timeout, what="the task's end")


def audit_per_node(task) -> dict:
    rows = list(AuditEntry.objects.filter(task_id=task.pk).values_list("node", flat=True))
    return {node: rows.count(node) for node in set(rows)}


def test_two_workers_share_a_batch_and_the_cluster_limit_holds_across_them(kube_sim, task_worker, settings):
    override_config(settings, {"batch.concurrency": 6})
    sim = kube_sim(nodes=80, latency_ms=25)
    cluster = import_sim(sim)
    ann = make_user("ann")
    one, two = task_worker("worker-one", concurrency=5), task_worker("worker-two", concurrency=5)
    sim.stats(reset=True)
    task = batches.start_batch(ann, cluster, "label", {"set": {"wave": "1"}}, all_nodes=True)
    task = finished(task.pk)
    stats = sim.stats()
    # ten node threads, a per-cluster limit of six: six requests at once at the most, and six were reached
    assert stats["max_in_flight"] == 6, stats
    assert task.status == TaskStatus.SUCCEEDED and task.succeeded == task.total == 80
    assert set(ProgressTarget.objects.filter(task=task).values_list("worker", flat=True)) == {one.name, two.name}
    assert audit_per_node(task) == {name: 1 for name in task.nodes}
    rows = assert_rows_exact(task)
    assert rows[-1].type == MessageType.COMPLETE and task.last_seq == 81

    # a task asking for less gets less, across both workers
    sim.stats(reset=True)
    small = batches.start_batch(ann, cluster, "label", {"set": {"wave": "2"}}, all_nodes=True, concurrency=3)
    small = finished(small.pk)
    assert sim.stats()["max_in_flight"] == 3 and small.status == TaskStatus.SUCCEEDED


def test_shutdown_hands_the_rest_back_and_another_worker_finishes_with_one_seq_sequence(kube_sim, task_worker):
    sim = kube_sim(nodes=40, latency_ms=30)
    cluster = import_sim(sim)
    ann = make_user("ann")
    first = task_worker("first", concurrency=2)
    task = batches.start_batch(ann, cluster, "cordon", {"reason": "rack 4"}, all_nodes=True, concurrency=2)
    until(lambda: task_row(task.pk).done >= 6, what="progress")
    assert first.shutdown(30)

    handed = task_row(task.pk)
    assert handed.status == TaskStatus.PENDING and handed.owner == "" and 6 <= handed.done < handed.total
    rows = assert_rows_exact(handed)
    assert all(m.type == MessageType.PROGRESS for m in rows)  # no final message: nothing ended interrupted
    assert not ProgressTarget.objects.filter(task=handed, done=False).exclude(worker="").exists()
    assert set(remaining_nodes(handed)) == set(ProgressTarget.objects.filter(task=handed, done=False)
                                               .values_list("name", flat=True))

    second = task_worker("second", concurrency=4)
    task = finished(task.pk)
    assert task.status == TaskStatus.SUCCEEDED and task.succeeded == task.total == 40 and task.owner == second.name
    rows = assert_rows_exact(task)
    assert rows[-1].type == MessageType.COMPLETE and rows[-1].seq == 41
    assert [m.seq for m in rows if m.type == MessageType.PROGRESS][:handed.done] == list(range(1, handed.done + 1))
    assert audit_per_node(task) == {name: 1 for name in task.nodes}  # every node cordoned once, on record


def test_shutdown_deadline_tells_a_drain_to_stop_and_gives_its_node_back_without_a_result(kube_sim, task_worker):
    from tests.nodes.conftest import core_api

    sim = kube_sim(nodes=14, seed=11)
    cluster = import_sim(sim)
    api = core_api(sim.kubeconfig)
    blocked = sorted(p.spec.node_name for p in api.list_pod_for_all_namespaces().items
                     if p.metadata.name.startswith("ledger-") and (p.spec.node_name or "").startswith("worker"))[0]
    ann = make_user("ann", role="admin")
    worker = task_worker("drainer", concurrency=2)
    # a PodDisruptionBudget never lets the ledger pod go: this drain would wait for its whole timeout
    task = batches.start_batch(ann, cluster, "drain", {"ignore_daemonsets": True, "delete_emptydir_data": True,
                                                       "force": True, "timeout": 600}, names=[blocked])
    until(lambda: api.read_node(blocked).spec.unschedulable, what="the drain under way")
    assert worker.shutdown(0.5)

    task = task_row(task.pk)
    assert task.status == TaskStatus.PENDING and task.done == 0 and task.last_seq == 0
    assert not ProgressMessage.objects.filter(task=task).exists()  # cut short: no result, not "failed"
    assert list(ProgressTarget.objects.filter(task=task).values_list("name", "worker", "done")) == \
        [(blocked, "", False)]
    assert not AuditEntry.objects.filter(task_id=task.pk).exists()
    batches.cancel_batch(task, ann)  # nobody holds it: cancelled at once
    task = task_row(task.pk)
    assert task.status == TaskStatus.CANCELLED and [m.type for m in assert_rows_exact(task)] == ["cancelled"]


def test_cancel_is_noticed_by_every_worker_running_the_task(kube_sim, task_worker):
    sim = kube_sim(nodes=60, latency_ms=40)
    cluster = import_sim(sim)
    ann = make_user("ann")
    task_worker("left", concurrency=2)
    task_worker("right", concurrency=2)
    task = batches.start_batch(ann, cluster, "cordon", {"reason": "cancel me"}, all_nodes=True)
    until(lambda: len(set(ProgressTarget.objects.filter(task_id=task.pk).exclude(worker="")
                          .values_list("worker", flat=True))) == 2 and task_row(task.pk).done >= 4,
          what="both workers running it")
    batches.cancel_batch(task_row(task.pk), ann)
    task = finished(task.pk)
    assert task.status == TaskStatus.CANCELLED and 4 <= task.done < task.total
    rows = assert_rows_exact(task)
    assert rows[-1].type == MessageType.CANCELLED and rows[-1].done == task.done
    # every node operation that started was recorded before the final message, and only those
    assert set(audit_per_node(task)) == {m.node for m in rows if m.type == MessageType.PROGRESS}
    assert set(audit_per_node(task).values()) == {1}
    assert not ProgressTarget.objects.filter(task=task, done=False).exclude(worker="").exists()
    retry = batches.retry_batch(task, ann)
    assert retry.total == task.total - task.done
    assert finished(retry.pk).status == TaskStatus.SUCCEEDED


def test_nodes_of_a_worker_whose_lease_expired_are_taken_over_once(kube_sim, task_worker, settings):
    """A worker that stopped renewing its lease (its row is hand-made here; tests/ops kills real processes)."""
    override_config(settings, {"worker.lease": 2.0})
    sim = kube_sim(nodes=12)
    cluster = import_sim(sim)
    ann = make_user("ann")
    task = batches.start_batch(ann, cluster, "label", {"set": {"t": "1"}}, all_nodes=True)
    long_ago = timezone.now() - timedelta(seconds=600)
    ProgressWorker.objects.create(name="gone", started_at=long_ago, heartbeat_at=long_ago)
    # the dead worker had claimed four nodes and recorded the result of two of them
    gone = list(task.nodes[:4])
    ProgressTarget.objects.filter(task=task, name__in=gone).update(worker="gone", claimed_at=long_ago)
    ProgressTask.objects.filter(pk=task.pk).update(status=TaskStatus.RUNNING, owner="gone", heartbeat_at=long_ago)
    from progress.writer import Event, write_events

    write_events(task.pk, [Event(type="progress", node=n, outcome="succeeded", ok=True) for n in gone[:2]])
    assert queue.sweep()["requeued"] == [str(task.pk)]
    assert task_row(task.pk).status == TaskStatus.PENDING
    task_worker("heir")
    task = finished(task.pk)
    assert task.status == TaskStatus.SUCCEEDED and task.succeeded == task.total == 12
    rows = assert_rows_exact(task)
    assert [m.node for m in rows[:2]] == gone[:2]
    audited = audit_per_node(task)
    assert set(audited) == set(task.nodes) - set(gone[:2]) and set(audited.values()) == {1}
