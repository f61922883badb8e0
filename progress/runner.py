"""The process-wide batch runner.

- A bounded worker pool (KUBENODE BATCH_WORKERS) runs node operations; per cluster at most
  BATCH_CONCURRENCY label/taint/cordon operations and BATCH_DRAIN_CONCURRENCY drains run at once,
  and a task may ask for less (ProgressTask.concurrency).
- One dispatcher thread per running task hands its nodes to the pool, one at a time, and stops at
  the next node boundary when the task is cancelled or the runner shuts down.
- A flusher thread writes each task's buffered results at most every ~50 ms (progress.writer).
- A heartbeat thread refreshes heartbeat_at of the tasks this replica owns, picks up cancel
  requests made on other replicas, and runs the reaper periodically.

Started lazily: the first `get_runner()` builds it (web processes on the first submit; commands).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connection

from kubenode import metrics

from . import services
from .models import FINISHED_STATUSES, MessageType, ProgressTask, TaskStatus
from .writer import AUTO_STATUS, TaskWriter

log = logging.getLogger("kubenode.progress.runner")

HEARTBEAT_INTERVAL_S = 5.0
REAP_INTERVAL_S = 10.0
STOP_WAIT_S = 2.0  # after the shutdown deadline: node operations told to stop get this long to record it


def _close_db():
    try:
        connection.close()
    except Exception:  # noqa: BLE001
        log.debug("closing a worker's database connection failed", exc_info=True)


class TaskRun:
    def __init__(self, task_id, limit: int):
        self.task_id = task_id
        self.writer = TaskWriter(task_id)
        self.cancelled = threading.Event()
        self.stopping = threading.Event()  # shutdown: no new nodes
        self.slots = threading.BoundedSemaphore(max(1, limit))
        self.in_flight = 0
        self.idle = threading.Condition()
        self.thread: threading.Thread | None = None
        self.counted = False  # the finished status went into the metrics

    def should_stop(self) -> bool:
        return self.cancelled.is_set() or self.stopping.is_set()


class Runner:
    def __init__(self, workers: int | None = None, replica: str | None = None):
        self.workers = int(workers or settings.KUBENODE["BATCH_WORKERS"])
        self.replica = str(replica or getattr(settings, "REPLICA_ID", "") or "local")
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="kubenode-node")
        self._runs: dict[str, TaskRun] = {}
        self._lock = threading.Lock()
        self._cluster_slots: dict[tuple, threading.BoundedSemaphore] = {}
        self._accepting = True
        self._stop = threading.Event()
        self._deadline_passed = threading.Event()
        self._threads = [threading.Thread(target=self._flush_loop, name="kubenode-flusher", daemon=True),
                         threading.Thread(target=self._heartbeat_loop, name="kubenode-heartbeat", daemon=True)]
        for t in self._threads:
            t.start()
        log.info("runner started replica=%s workers=%s", self.replica, self.workers)

    # -- public API -------------------------------------------------------------------------
    def submit(self, task_id) -> bool:
        key = str(task_id)
        if not self._accepting:
            log.warning("runner is shutting down; task=%s not accepted", key)
            return False
        with self._lock:
            if key in self._runs:
                return False
            task = ProgressTask.objects.filter(pk=task_id).only("concurrency", "action").first()
            if task is None or not services.mark_running(task_id, self.replica):
                log.info("task=%s not started (missing or no longer pending)", key)
                return False
            run = TaskRun(key, task.concurrency or services.concurrency_limit(task.action))
            self._runs[key] = run
            metrics.set_tasks_running(len(self._runs))
            run.thread = threading.Thread(target=self._dispatch, args=(run,), name=f"kubenode-task-{key[:8]}",
                                          daemon=True)
            run.thread.start()
        return True

    def cancel(self, task_id) -> bool:
        run = self._runs.get(str(task_id))
        if run is None:
            return False
        run.cancelled.set()
        return True

    def running(self) -> list[str]:
        with self._lock:
            return list(self._runs)

    def wait(self, task_id, timeout: float | None = None) -> bool:
        run = self._runs.get(str(task_id))
        if run is None or run.thread is None:
            return True
        run.thread.join(timeout)
        return not run.thread.is_alive()

    def shutdown(self, deadline_seconds: float) -> None:
        """Stop accepting; let running node operations finish until the deadline; interrupt the rest."""
        self._accepting = False
        end = time.monotonic() + max(0.0, deadline_seconds)
        runs = list(self._runs.values())
        for run in runs:
            run.stopping.set()
        for run in runs:
            if run.thread is not None:
                run.thread.join(max(0.0, end - time.monotonic()))
        self._deadline_passed.set()
        stop_by = time.monotonic() + STOP_WAIT_S
        for run in runs:  # operations told to stop (drain) record their outcome before the task is closed
            with run.idle:
                while run.in_flight and time.monotonic() < stop_by:
                    run.idle.wait(0.1)
        for run in runs:  # a task that finished meanwhile is left as it is (interrupt_task checks)
            try:
                run.writer.flush()
                run.writer.closed = True
                if services.interrupt_task(run.task_id, f"replica {self.replica} shut down before the task finished"):
                    self._count_finished(run, TaskStatus.INTERRUPTED)
            except Exception:  # noqa: BLE001
                log.exception("could not mark task=%s interrupted", run.task_id)
        self._stop.set()
        self.pool.shutdown(wait=False, cancel_futures=True)
        _close_db()
        log.info("runner stopped replica=%s", self.replica)

    # -- internals --------------------------------------------------------------------------
    def _cluster_slot(self, cluster_id, action: str) -> threading.BoundedSemaphore:
        kind = "drain" if action == "drain" else "edit"
        with self._lock:
            sem = self._cluster_slots.get((cluster_id, kind))
            if sem is None:
                sem = threading.BoundedSemaphore(services.concurrency_limit(action))
                self._cluster_slots[(cluster_id, kind)] = sem
            return sem

    def _dispatch(self, run: TaskRun) -> None:
        try:
            task = ProgressTask.objects.select_related("cluster", "user").get(pk=run.task_id)
            if task.cluster is None:
                run.writer.finish(TaskStatus.FAILED, MessageType.ERROR, error="the task's cluster no longer exists")
                return
            cluster_slots = self._cluster_slot(task.cluster_id, task.action)
            for node in task.nodes:
                if run.should_stop():
                    break
                run.slots.acquire()
                while not cluster_slots.acquire(timeout=0.5):
                    if run.should_stop():
                        break
                else:
                    if run.should_stop():
                        cluster_slots.release()
                        run.slots.release()
                        break
                    with run.idle:
                        run.in_flight += 1
                    self.pool.submit(self._run_node, run, task, node, cluster_slots)
                    continue
                run.slots.release()
                break
            with run.idle:
                while run.in_flight:
                    if self._deadline_passed.is_set():
                        return
                    run.idle.wait(0.2)
            if run.cancelled.is_set():
                run.writer.finish(TaskStatus.CANCELLED, MessageType.CANCELLED, error="cancelled")
            elif run.stopping.is_set() and (self._deadline_passed.is_set() or self._done_count(run) < task.total):
                # nodes left undone, or an operation cut short by the shutdown deadline: interrupted, not failed
                run.writer.flush()
                run.writer.closed = True
                services.interrupt_task(run.task_id, f"replica {self.replica} shut down before the task finished")
            else:
                run.writer.finish(AUTO_STATUS, MessageType.COMPLETE)
        except Exception as exc:  # noqa: BLE001 - a runner bug must not leave the task running
            log.exception("task=%s failed in the runner", run.task_id)
            try:
                run.writer.finish(TaskStatus.FAILED, MessageType.ERROR, error=f"internal error: {exc}")
            except Exception:  # noqa: BLE001
                log.exception("task=%s: could not record the failure", run.task_id)
        finally:
            try:
                status = ProgressTask.objects.filter(pk=run.task_id).values_list("status", flat=True).first()
                if status in FINISHED_STATUSES:
                    self._count_finished(run, status)
            except Exception:  # noqa: BLE001 - metrics never break a task
                log.debug("task=%s: status for the metrics not read", run.task_id, exc_info=True)
            with self._lock:
                self._runs.pop(run.task_id, None)
                metrics.set_tasks_running(len(self._runs))
            _close_db()

    def _count_finished(self, run: TaskRun, status: str) -> None:
        with self._lock:
            if run.counted:
                return
            run.counted = True
        metrics.task_finished(status)

    def _done_count(self, run: TaskRun) -> int:
        run.writer.flush()
        return ProgressTask.objects.filter(pk=run.task_id).values_list("done", flat=True).first() or 0

    def _run_node(self, run: TaskRun, task: ProgressTask, node: str, cluster_slots) -> None:
        from nodes import services as node_services

        try:
            if run.stopping.is_set():
                return  # queued behind a full pool when the replica began to shut down: never started
            close_old_connections()
            try:
                outcome = node_services.run_node_action(task.cluster, node, task.action, task.parameters,
                                                        user=task.user, task_id=task.pk,
                                                        should_stop=lambda: run.cancelled.is_set()
                                                        or self._deadline_passed.is_set())
                run.writer.node_result(node, outcome.ok, outcome.error, outcome.detail or {})
                metrics.node_processed(task.action, outcome.ok)
                run.writer.flush_if_never_flushed()  # at once from here, not at the flusher's next tick
            except Exception as exc:  # noqa: BLE001 - the contract says it never raises; be safe anyway
                log.exception("task=%s node=%s raised", run.task_id, node)
                run.writer.node_result(node, False, f"internal error: {exc}")
                metrics.node_processed(task.action, False)
        finally:
            _close_db()
            cluster_slots.release()
            run.slots.release()
            with run.idle:
                run.in_flight -= 1
                run.idle.notify_all()

    def _flush_loop(self) -> None:
        while not self._stop.is_set():
            time.sleep(0.01)
            for run in list(self._runs.values()):
                try:
                    if run.writer.due():
                        run.writer.flush()
                except Exception:  # noqa: BLE001 - retried at the next tick; rows are the source of truth
                    log.exception("flush failed task=%s", run.task_id)
                    time.sleep(0.2)
            if not self._runs:
                _close_db()
                self._stop.wait(0.05)

    def _heartbeat_loop(self) -> None:
        last_reap = 0.0
        while not self._stop.wait(HEARTBEAT_INTERVAL_S if self._runs else 1.0):
            try:
                ids = self.running()
                for task_id in services.heartbeat(ids, self.replica):
                    self.cancel(task_id)
                if time.monotonic() - last_reap >= REAP_INTERVAL_S:
                    last_reap = time.monotonic()
                    for _task_id in services.reap_stale():
                        metrics.task_finished(TaskStatus.INTERRUPTED)
            except Exception:  # noqa: BLE001
                log.exception("heartbeat/reaper failed")
            finally:
                _close_db()


_runner: Runner | None = None
_runner_lock = threading.Lock()


def get_runner() -> Runner:
    global _runner
    with _runner_lock:
        if _runner is None:
            _runner = Runner()
        return _runner


def peek_runner() -> Runner | None:
    return _runner


def reset_runner(deadline_seconds: float = 5.0) -> None:
    """Shut the process-wide runner down and forget it (tests)."""
    global _runner
    with _runner_lock:
        runner, _runner = _runner, None
    if runner is not None:
        runner.shutdown(deadline_seconds)
