import threading

import pytest

from progress.models import MessageType, ProgressMessage, ProgressTarget, ProgressTask, TaskStatus
from progress.writer import AUTO_STATUS, Event, TaskWriter, flush_events
from tests.progress.helpers import make_task, make_user, write_results

pytestmark = pytest.mark.django_db(transaction=True)


def test_flush_writes_consecutive_seq_and_counters():
    task = make_task(make_user("ann"), nodes=5)
    assert write_results(task, [("node-00000", True), ("node-00001", False)]) == 2
    assert write_results(task, [("node-00002", True)]) == 3
    task.refresh_from_db()
    assert (task.last_seq, task.done, task.succeeded, task.failed) == (3, 3, 2, 1)
    rows = list(ProgressMessage.objects.filter(task=task).order_by("seq"))
    assert [m.seq for m in rows] == [1, 2, 3]
    assert [(m.done, m.succeeded, m.failed) for m in rows] == [(1, 1, 0), (2, 1, 1), (3, 2, 1)]
    assert rows[1].error == "boom on node-00001"


def test_final_message_carries_exact_counts_and_every_failed_node():
    task = make_task(make_user("ann"), nodes=4)
    write_results(task, [("node-00000", False), ("node-00001", True)])
    seq = flush_events(task.pk, [Event(type="progress", node="node-00002", outcome="failed", error="x", ok=False),
                                 Event(type="progress", node="node-00003", outcome="succeeded", ok=True),
                                 Event(type=MessageType.COMPLETE)], final_status=AUTO_STATUS)
    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED and task.finished_at is not None
    final = ProgressMessage.objects.get(task=task, seq=seq)
    assert final.type == MessageType.COMPLETE
    assert final.detail["succeeded"] == 2 and final.detail["failed"] == 2
    assert final.detail["failed_nodes"] == [{"node": "node-00000", "error": "boom on node-00000"},
                                            {"node": "node-00002", "error": "x"}]


def test_nothing_is_written_after_the_final_message():
    task = make_task(make_user("ann"), nodes=2)
    write_results(task, [("node-00000", True)], final_status=TaskStatus.CANCELLED)
    write_results(task, [("node-00001", True)])
    task.refresh_from_db()
    assert task.last_seq == 1 and task.done == 1
    assert ProgressMessage.objects.filter(task=task).count() == 1


def test_concurrent_writers_never_lose_a_count():
    task = make_task(make_user("ann"), nodes=400)
    names = task.nodes

    def write(chunk):
        for i in range(0, len(chunk), 10):
            write_results(task, [(n, int(n[-1]) % 3 != 0) for n in chunk[i:i + 10]])

    threads = [threading.Thread(target=write, args=(names[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    task.refresh_from_db()
    expected_failed = sum(1 for n in names if int(n[-1]) % 3 == 0)
    assert (task.done, task.failed, task.succeeded) == (400, expected_failed, 400 - expected_failed)
    seqs = list(ProgressMessage.objects.filter(task=task).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 401)) and task.last_seq == 400


def test_task_writer_coalesces_buffered_results_into_one_transaction():
    task = make_task(make_user("ann"), nodes=100)
    writer = TaskWriter(task.pk, interval=3600)
    for i, name in enumerate(task.nodes):
        writer.node_result(name, ok=i % 10 != 0, error="" if i % 10 else "nope")
    assert writer.due()  # never flushed yet
    writer.flush()
    assert not writer.due()  # within the interval nothing is due, even with new results
    writer.node_result("extra", ok=True)
    assert not writer.due()
    writer.finish(AUTO_STATUS, MessageType.COMPLETE)
    task = ProgressTask.objects.get(pk=task.pk)
    assert writer.flushes == 2
    assert task.last_seq == 102 and task.failed == 10 and task.status == TaskStatus.FAILED
    writer.node_result("late", ok=True)
    assert writer.flush() == 0


def test_only_the_first_flush_skips_the_interval():
    task = make_task(make_user("cy"), nodes=4)
    writer = TaskWriter(task.pk, interval=3600)
    writer.node_result(task.nodes[0], ok=True)
    assert writer.flush_if_never_flushed() == 1  # seq 1 written at once
    writer.node_result(task.nodes[1], ok=True)
    assert writer.flush_if_never_flushed() == 0 and not writer.due()  # the rest waits for the interval
    assert ProgressTask.objects.get(pk=task.pk).last_seq == 1 and writer.flushes == 1


def _queued_task(nodes: int):
    from progress import queue

    task = make_task(make_user("ann"), nodes=nodes)
    queue.enqueue(task, task.nodes)
    return task


def _transactions(task) -> int:
    """How many transactions wrote the task's message rows (PostgreSQL's xmin of each row)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT xmin::text) FROM progress_progressmessage WHERE task_id = %s", [task.pk])
        return cursor.fetchone()[0]


def test_a_failed_flush_keeps_its_results_and_the_retry_records_them_once():
    import psycopg
    from django.db import connection

    from progress.wake import side_connection_params
    from progress.writer import RETRY_FIRST_S
    from tests.progress.helpers import assert_rows_exact

    task = _queued_task(4)
    writer = TaskWriter(task.pk, interval=0)
    writer.node_result("node-00000", ok=True)
    writer.node_result("node-00001", ok=False, error="no")
    connection.ensure_connection()
    with psycopg.connect(**side_connection_params("test"), autocommit=True) as admin:  # the server cuts it
        admin.execute("SELECT pg_terminate_backend(%s)", (connection.connection.info.backend_pid,))
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises for a cut connection
        writer.flush()
    assert writer.pending() == 2 and writer.failures == 1 and writer.flushes == 0
    assert not writer.due()  # backing off
    task.refresh_from_db()
    assert (task.last_seq, task.done) == (0, 0) and not ProgressMessage.objects.filter(task=task).exists()
    writer.node_result("node-00002", ok=True)
    import time

    time.sleep(RETRY_FIRST_S)
    assert writer.due() and writer.flush() == 3
    assert writer.pending() == 0 and writer.flushes == 1
    rows = assert_rows_exact(task)
    assert [(m.node, m.outcome) for m in rows] == [("node-00000", "succeeded"), ("node-00001", "failed"),
                                                   ("node-00002", "succeeded")]
    assert (task.done, task.succeeded, task.failed) == (3, 2, 1) and _transactions(task) == 1


def test_a_result_already_recorded_is_never_written_again():
    from tests.progress.helpers import assert_rows_exact

    task = _queued_task(3)
    write_results(task, [("node-00000", True)])
    # the same result again (a retry whose first commit did succeed, or a second worker that ran the node)
    writer = TaskWriter(task.pk, interval=0)
    writer.node_result("node-00000", ok=False, error="second run")
    writer.node_result("node-00001", ok=True)
    writer.node_result("node-00001", ok=True)
    assert writer.flush() == 2 and writer.last.duplicates == 2
    rows = assert_rows_exact(task)
    assert [(m.seq, m.node, m.outcome) for m in rows] == [(1, "node-00000", "succeeded"),
                                                          (2, "node-00001", "succeeded")]
    assert set(ProgressTarget.objects.filter(task=task, done=True).values_list("name", flat=True)) == \
        {"node-00000", "node-00001"}


def test_coalesced_results_are_one_transaction_per_flush():
    task = _queued_task(100)
    writer = TaskWriter(task.pk, interval=3600)
    for name in task.nodes[:60]:
        writer.node_result(name, ok=True)
    writer.flush()
    for name in task.nodes[60:]:
        writer.node_result(name, ok=True)
    writer.finish(AUTO_STATUS, MessageType.COMPLETE)
    task.refresh_from_db()
    assert writer.flushes == 2 and _transactions(task) == 2 and task.last_seq == 101


def test_the_doorbell_rings_inside_the_transaction_and_only_when_it_commits():
    """pg_notify is sent in the writer's transaction: nobody hears it before the commit, and a rolled-back
    flush rings nothing."""
    import psycopg
    from django.db import transaction

    from progress import notify
    from progress.notify.base import PG_CHANNEL
    from progress.notify.postgres import PostgresNotifier
    from progress.wake import side_connection_params

    task = _queued_task(3)
    notify.reset_notifier()
    notify._notifier = PostgresNotifier(replica="writer-test")
    try:
        with psycopg.connect(**side_connection_params("listen-test"), autocommit=True) as listener:
            listener.execute(f'LISTEN "{PG_CHANNEL}"')

            def heard(wait: float) -> list[dict]:
                import json

                return [json.loads(n.payload) for n in listener.notifies(timeout=wait)]

            with transaction.atomic():
                write_results(task, [("node-00000", True)])
                assert heard(0.5) == []  # not before the commit
            assert [(d["t"], d["s"]) for d in heard(5)[:1]] == [(str(task.pk), 1)]

            class Abort(Exception):
                pass

            with pytest.raises(Abort), transaction.atomic():
                write_results(task, [("node-00001", True)])
                raise Abort
            assert heard(1.0) == []  # rolled back: no rows, no doorbell
            task.refresh_from_db()
            assert task.last_seq == 1 and ProgressMessage.objects.filter(task=task).count() == 1
    finally:
        notify.reset_notifier()


def test_the_flush_of_the_last_result_writes_the_completion_in_the_same_transaction():
    from tests.progress.helpers import assert_rows_exact

    task = _queued_task(3)
    writer = TaskWriter(task.pk, interval=3600, complete_when_done=True)
    writer.node_result(task.nodes[0], ok=False, error="no")
    assert writer.flush_if_never_flushed() == 1
    writer.node_result(task.nodes[1], ok=True)
    assert writer.flush_if_last() == 0 and writer.pending() == 1  # not the last: it waits for the interval
    writer.node_result(task.nodes[2], ok=True)
    assert writer.flush_if_last() == 4  # results 2 and 3, then the completion
    row = ProgressTask.objects.get(pk=task.pk)
    assert row.status == TaskStatus.FAILED and row.finished_at is not None and row.last_seq == 4
    rows = assert_rows_exact(row)
    assert [m.type for m in rows] == [MessageType.PROGRESS] * 3 + [MessageType.COMPLETE]
    assert rows[-1].detail["failed_nodes"] == [{"node": task.nodes[0], "error": "no"}]
    assert rows[-1].detail["succeeded"] == 2 and _transactions(row) == 2
    assert writer.closed and writer.last.finished
    writer.node_result(task.nodes[2], ok=True)  # nothing is recorded after the completion
    assert writer.pending() == 0 and writer.finish(TaskStatus.SUCCEEDED, MessageType.COMPLETE) == 0


def test_a_flush_short_of_the_last_result_leaves_the_task_running():
    task = _queued_task(3)
    writer = TaskWriter(task.pk, interval=0, complete_when_done=True)
    writer.node_result(task.nodes[0], ok=True)
    writer.node_result(task.nodes[1], ok=True)
    assert writer.flush() == 2
    row = ProgressTask.objects.get(pk=task.pk)
    assert row.status == TaskStatus.RUNNING and row.finished_at is None and not writer.last.finished
