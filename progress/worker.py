"""The worker: claims queued targets of tasks, runs them through their registered operations, records results.

One Worker per process (``manage.py progress_worker``; on SQLite a thread of the web process, the embedded
default; ``node_batch`` there runs its own). It has `concurrency` node threads. A node thread holds a slot of the
task and of the task's scope (progress.slots: limits across every worker) while it runs targets of that task,
one after another, taking them from a small buffer that it refills by claiming from the queue (progress.queue).
Around them:

- the flusher writes each task's results at most every ~50 ms, retries a failed flush with backoff (nothing is
  lost: results stay queued until committed), and writes the final message of a cancelled task that has nothing
  left in flight. A task's first result is flushed at once by the node thread that produced it, and so is the
  result that completes it (as far as this worker knows); the flush that records the last result writes the
  completion in the same transaction;
- the heartbeat notices cancels within CANCEL_POLL_S, renews the lease every third of `worker.lease`, and sweeps
  what dead workers left (progress.queue.sweep);
- the doorbell (progress.wake) and a slow poll wake idle node threads.

`shutdown(grace)` (SIGTERM): no new targets; buffered ones go back to the queue at once; node operations in
flight get `grace` seconds to finish and are recorded; operations cut by the deadline are told to stop, and their
nodes go back to the queue with no result; then every task this worker held is handed back (`pending` when no
other worker holds it). Nothing ends `interrupted`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import translation

from kubenode import metrics, runtime
from kubenode.locale import task_language

from . import operations, queue, slots, wake
from .models import FINISHED_STATUSES, MessageType, ProgressTask
from .writer import AUTO_STATUS, TaskWriter

log = logging.getLogger("kubenode.progress.worker")

CANCEL_POLL_S = 0.5
CLAIM_MAX = 50
IDLE_BACKOFF_S = 0.5  # a task with nothing claimable right now
FULL_BACKOFF_S = 0.2  # a task whose slots are all taken (by this or other workers)
DISCOVER_MIN_S = 0.2
DISCOVER_RETRY_S = (0.5, 5.0)  # a failed look for queued tasks is retried after 0.5 s, doubling up to 5 s
FLUSH_TICK_S = 0.01
STOP_WAIT_S = 2.0  # after the shutdown deadline: operations told to stop get this long to return
FINAL_FLUSH_S = 15.0  # at shutdown: how long failed flushes are retried
RUN_IDLE_DROP_S = 5.0  # a task with nothing for this worker is forgotten (found again if work appears)


def _close_db() -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001
        log.debug("closing a thread's database connection failed", exc_info=True)


class TaskRun:
    """What this worker holds of one task."""

    def __init__(self, task: ProgressTask, operation: operations.Operation | None):
        self.task_id = str(task.pk)
        self.task = task
        self.operation = operation
        self.language = task_language(task)  # the words of its errors: its user's language
        self.limit = max(1, operation.limit()) if operation else 1
        self.concurrency = max(1, min(task.concurrency or self.limit, self.limit))
        self.writer = TaskWriter(task.pk, persist=operation.persist if operation else None, complete_when_done=True)
        self.execute = None
        self.fail_reason = ""
        self.lock = threading.Lock()
        self.claim_lock = threading.Lock()
        self.buffer: deque[str] = deque()
        self.holders = 0
        self.in_flight = 0
        self.cancelled = False
        self.finished = False
        self.final_pending: tuple[str, str] | None = None  # (status, message type) still to be written
        self.idle_until = 0.0
        self.full_until = 0.0
        self.last_active = time.monotonic()
        self.cut: list[str] = []  # targets cut by the shutdown deadline: handed back without a result
        self.counted = False

    def groups(self) -> list[slots.Group]:
        op = self.operation
        return [slots.Group(f"scope:{self.task.cluster_name}:{op.limit_group}", self.limit),
                slots.Group(f"task:{self.task_id}", self.concurrency)]

    def wants_threads(self, now: float) -> bool:
        with self.lock:
            if self.finished or self.cancelled or self.fail_reason or self.execute is None:
                return False
            if self.full_until > now or self.holders >= self.concurrency:
                return False
            return bool(self.buffer) or self.idle_until <= now

    def stopped(self) -> bool:
        """No node thread holds the task or runs one of its targets (buffered targets may remain)."""
        with self.lock:
            return not (self.holders or self.in_flight)

    def quiet(self) -> bool:
        with self.lock:
            return not (self.holders or self.in_flight or self.buffer)


class Worker:
    def __init__(self, name: str | None = None, concurrency: int | None = None, *, role: str = "worker",
                 only_tasks=None, lease: float | None = None, poll_interval: float | None = None):
        config = settings.CONFIG
        self.name = str(name or runtime.replica_id())
        self.concurrency = int(concurrency or config["worker.concurrency"])
        self.role = role
        self.only_tasks = {str(t) for t in only_tasks} if only_tasks is not None else None
        self.lease = float(lease or config["worker.lease"])
        self.poll_interval = poll_interval
        self.slots = slots.for_this_database(self.name)
        self.runs: dict[str, TaskRun] = {}
        self._runs_lock = threading.Lock()
        self._work = threading.Condition()
        self._woken = False
        self._discover_at = 0.0
        self._discover_lock = threading.Lock()
        self._wakes = 0  # wake-ups so far: one that arrives while a look for queued tasks runs asks for another
        self._discover_backoff = 0.0  # > 0 while the last look failed
        self.stopping = threading.Event()  # no new targets
        self.deadline_passed = threading.Event()  # operations in flight are told to stop
        self._stopped = threading.Event()  # flusher and heartbeat end
        self._node_threads: list[threading.Thread] = []
        self._threads: list[threading.Thread] = []
        self.wake = wake.WakeSource(self._on_doorbell, self.name)
        self.started = False
        self.lease_ok = True
        self.last_error = ""
        self.in_flight = 0
        self._in_flight_lock = threading.Lock()

    # --- lifecycle ------------------------------------------------------------------------------------------------

    def start(self) -> Worker:
        queue.register_worker(self.name, self.role, self.concurrency)
        _close_db()
        queue.add_local_waker(self._on_local)
        self._node_threads = [threading.Thread(target=self._node_loop, name=f"kubenode-node-{i}", daemon=True)
                              for i in range(self.concurrency)]
        self._threads = [threading.Thread(target=self._flush_loop, name="kubenode-flusher", daemon=True),
                         threading.Thread(target=self._heartbeat_loop, name="kubenode-heartbeat", daemon=True)]
        for thread in self._node_threads + self._threads:
            thread.start()
        self.wake.start()
        self.started = True
        log.info("worker %s started: %d node thread(s), lease %.0fs, doorbell %s, poll every %.1fs", self.name,
                 self.concurrency, self.lease, self.wake.kind, self._poll_s(),
                 extra={"event": "worker_started", "concurrency": self.concurrency, "doorbell": self.wake.kind})
        return self

    def request_stop(self) -> None:
        """Stop claiming (SIGTERM): node threads end after their current operation."""
        self.stopping.set()
        self._notify()

    def shutdown(self, grace: float) -> bool:
        """See the module's docstring. True when every result was recorded and every task handed back."""
        if not self.started:
            return True
        started = time.monotonic()
        self.request_stop()
        self._release_buffers("shutting down")
        in_flight = self.in_flight
        log.info("worker %s stopping: %d node operation(s) in flight get %.0fs to finish", self.name, in_flight,
                 grace, extra={"event": "worker_stopping", "in_flight": in_flight, "grace_seconds": grace})
        end = started + max(0.0, grace)
        for thread in self._node_threads:
            thread.join(max(0.0, end - time.monotonic()))
        if any(t.is_alive() for t in self._node_threads):
            log.warning("worker %s: shutdown grace of %.0fs passed with %d operation(s) in flight: telling them to "
                        "stop; their nodes go back to the queue", self.name, grace, self.in_flight)
            self.deadline_passed.set()
            stop_by = time.monotonic() + STOP_WAIT_S
            for thread in self._node_threads:
                thread.join(max(0.0, stop_by - time.monotonic()))
        self._stopped.set()
        for thread in self._threads:
            thread.join(10)
        clean = self._settle_all(time.monotonic() + FINAL_FLUSH_S)
        self.wake.stop()
        queue.remove_local_waker(self._on_local)
        try:
            queue.stop_worker(self.name)
        except Exception:  # noqa: BLE001 - the lease simply expires
            log.warning("worker %s: could not record its stop; its lease expires", self.name)
        self.slots.close()
        _close_db()
        self.started = False
        log.info("worker %s stopped in %.1fs%s", self.name, time.monotonic() - started,
                 "" if clean else " (some results could not be recorded: their nodes are re-run by another worker)",
                 extra={"event": "worker_stopped", "seconds": round(time.monotonic() - started, 3), "clean": clean})
        return clean

    def idle(self) -> bool:
        """No task held and nothing claimable for this worker (used by --once)."""
        with self._runs_lock:
            if self.runs:
                return False
        try:
            return not queue.claimable_tasks(limit=1, only=self.only_tasks)
        finally:
            _close_db()

    def run_until_idle(self, grace: float, poll: float = 0.2) -> bool:
        """--once: work until nothing is left for this worker, then shut down."""
        self.start()
        quiet_since = None
        while not self.stopping.is_set():
            time.sleep(poll)
            if self.idle():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= 2 * poll:
                    break
            else:
                quiet_since = None
        return self.shutdown(grace)

    def alive(self) -> bool:
        """The worker's threads run (or it has not started, or it stopped on purpose)."""
        if not self.started:
            return True
        threads = self._threads + ([] if self.stopping.is_set() else self._node_threads)
        return all(t.is_alive() for t in threads)

    def status(self) -> dict:
        with self._runs_lock:
            runs = list(self.runs.values())
        return {"worker": self.name, "role": self.role, "concurrency": self.concurrency, "in_flight": self.in_flight,
                "tasks": [r.task_id for r in runs], "stopping": self.stopping.is_set(), "lease_ok": self.lease_ok,
                "doorbell": self.wake.status(), "last_error": self.last_error}

    # --- waking ---------------------------------------------------------------------------------------------------

    def _poll_s(self) -> float:
        return self.poll_interval if self.poll_interval is not None else wake.poll_interval_s()

    def _notify(self) -> None:
        with self._work:
            self._woken = True
            self._work.notify_all()

    def _on_doorbell(self, source: str, payload: str) -> None:
        metrics.worker_woken(source)
        self._wake_discovery()

    def _wake_discovery(self) -> None:
        self._wakes += 1
        self._discover_at = 0.0
        self._notify()

    def _on_local(self, kind: str, task_id: str) -> None:
        if self.only_tasks is not None and task_id not in self.only_tasks:
            return
        metrics.worker_woken("local")
        self._wake_discovery()

    def _wait_for_work(self) -> None:
        now = time.monotonic()
        timeout = self._poll_s()
        with self._runs_lock:
            runs = list(self.runs.values())
        for run in runs:
            with run.lock:
                if run.finished or run.cancelled:
                    continue
                for at in (run.idle_until, run.full_until):
                    if at > now:
                        timeout = min(timeout, at - now)
        if self._discover_backoff:  # the last look for queued tasks failed: retried soon, not at the next poll
            timeout = min(timeout, max(0.0, self._discover_at - now))
        with self._work:
            if not self._woken:
                self._work.wait(max(0.01, timeout))
            if self._woken:
                self._woken = False
            elif timeout >= self._poll_s():
                metrics.worker_woken("poll")
                self._discover_at = 0.0

    # --- node threads ---------------------------------------------------------------------------------------------

    def _node_loop(self) -> None:
        held: tuple[TaskRun, slots.Slot] | None = None
        try:
            while not self.stopping.is_set():
                if held is not None:
                    run, _slot = held
                    name = self._next_target(run)
                    if name is None:
                        self._drop(held)
                        held = None
                        continue
                    self._run_target(run, name)
                    continue
                run = self._pick_run()
                if run is None:
                    _close_db()
                    self._wait_for_work()
                    continue
                try:
                    slot = self.slots.acquire(run.groups())
                except Exception as exc:  # noqa: BLE001 - the database is unreachable: wait and retry
                    self._note_error("taking a concurrency slot", exc)
                    with run.lock:
                        run.full_until = time.monotonic() + 1.0
                    continue
                if slot is None:
                    with run.lock:
                        run.full_until = time.monotonic() + FULL_BACKOFF_S
                    continue
                with run.lock:
                    run.holders += 1
                held = (run, slot)
        finally:
            if held is not None:
                self._drop(held)
            _close_db()

    def _drop(self, held) -> None:
        run, slot = held
        with run.lock:
            run.holders -= 1
        try:
            self.slots.release(slot)
        except Exception:  # noqa: BLE001 - the connection is gone, and the locks with it
            log.debug("releasing a slot failed", exc_info=True)
        self._notify()

    def _pick_run(self) -> TaskRun | None:
        now = time.monotonic()
        with self._runs_lock:
            runs = sorted(self.runs.values(), key=lambda r: r.task.created_at)
        for run in runs:
            if run.wants_threads(now):
                return run
        if now >= self._discover_at and self._discover_lock.acquire(blocking=False):
            try:
                wakes = self._wakes
                self._discover_at = now + DISCOVER_MIN_S
                self._discover()
            finally:
                self._discover_lock.release()
            if self._wakes != wakes:  # woken while looking (the doorbell reconnected, a task was queued): again
                self._discover_at = 0.0
                self._notify()
            with self._runs_lock:
                runs = sorted(self.runs.values(), key=lambda r: r.task.created_at)
            for run in runs:
                if run.wants_threads(time.monotonic()):
                    return run
        return None

    def _discover(self) -> None:
        if self.stopping.is_set():
            return
        try:
            found = queue.claimable_tasks(only=self.only_tasks)
            with self._runs_lock:
                new = [t for t in found if t not in self.runs]
            for task in ProgressTask.objects.select_related("user").filter(pk__in=new):
                self._add_run(task)
            for task_id in found:
                run = self.runs.get(task_id)
                if run is not None:
                    with run.lock:
                        run.idle_until = 0.0
            if found:
                self._notify()  # the other idle node threads: there is work
            self._discover_backoff = 0.0
        except Exception as exc:  # noqa: BLE001 - the database may be down: retried with backoff
            first, most = DISCOVER_RETRY_S
            self._discover_backoff = min(most, self._discover_backoff * 2 if self._discover_backoff else first)
            self._discover_at = time.monotonic() + self._discover_backoff
            self._note_error("looking for queued tasks", exc)
        finally:
            _close_db()

    def _add_run(self, task: ProgressTask) -> None:
        try:
            operation = operations.get(task.action)
        except Exception:  # noqa: BLE001 - ValidationError: not registered in this process
            operation = None
        run = TaskRun(task, operation)
        if operation is None:
            run.fail_reason = f"no operation {task.action!r} is registered in this worker"
        else:
            try:
                run.execute = operation.prepare(task)
            except operations.ScopeUnavailable as exc:
                run.fail_reason = str(exc)
        with self._runs_lock:
            if task.pk and str(task.pk) not in self.runs:
                self.runs[str(task.pk)] = run
                metrics.set_tasks_running(len(self.runs))

    def _next_target(self, run: TaskRun) -> str | None:
        while True:
            with run.lock:
                if run.cancelled or run.finished or run.fail_reason or self.stopping.is_set():
                    return None
                if run.buffer:
                    run.in_flight += 1
                    run.last_active = time.monotonic()
                    return run.buffer.popleft()
                if run.idle_until > time.monotonic():
                    return None
                holders = run.holders
            if not run.claim_lock.acquire(timeout=1.0):
                continue
            try:
                with run.lock:
                    if run.buffer:
                        continue
                try:
                    names = queue.claim(run.task_id, self.name, min(CLAIM_MAX, max(1, holders)))
                except Exception as exc:  # noqa: BLE001 - retried after a pause
                    self._note_error(f"claiming nodes of task {run.task_id}", exc)
                    with run.lock:
                        run.idle_until = time.monotonic() + 1.0
                    return None
                finally:
                    _close_db()
                with run.lock:
                    if names is None:  # finished or cancelled meanwhile
                        run.idle_until = time.monotonic() + IDLE_BACKOFF_S
                        return None
                    if not names:
                        run.idle_until = time.monotonic() + IDLE_BACKOFF_S
                        return None
                    run.buffer.extend(names)
                    run.last_active = time.monotonic()
            finally:
                run.claim_lock.release()

    def _run_target(self, run: TaskRun, name: str) -> None:
        with self._in_flight_lock:
            self.in_flight += 1
            metrics.set_worker_in_flight(self.in_flight)
        try:
            close_old_connections()
            with translation.override(run.language):
                outcome = run.execute(name, lambda: run.cancelled or self.deadline_passed.is_set())
            if self.deadline_passed.is_set() and not outcome.ok:
                with run.lock:  # cut short by the shutdown deadline: no result; another worker runs it again
                    run.cut.append(name)
                return
            run.writer.node_result(name, outcome.ok, outcome.error, outcome.detail or {}, outcome.record)
            metrics.node_processed(run.task.action, outcome.ok)
            try:
                # the task's first result at once, from here; and its last one, with the completion, in the same
                # transaction; the ones between coalesce in the flusher
                if not run.writer.flush_if_never_flushed():
                    run.writer.flush_if_last()
            except Exception:  # noqa: BLE001 - the flusher retries it
                pass
        except Exception as exc:  # noqa: BLE001 - an operation must not raise; record it as failed anyway
            log.exception("task=%s node=%s raised", run.task_id, name)
            run.writer.node_result(name, False, f"internal error: {type(exc).__name__}: {exc}")
            metrics.node_processed(run.task.action, False)
        finally:
            _close_db()
            with run.lock:
                run.in_flight -= 1
                run.last_active = time.monotonic()
            with self._in_flight_lock:
                self.in_flight -= 1
                metrics.set_worker_in_flight(self.in_flight)
            self._notify()

    # --- flusher --------------------------------------------------------------------------------------------------

    def _flush_loop(self) -> None:
        while not self._stopped.is_set():
            time.sleep(FLUSH_TICK_S)
            with self._runs_lock:
                runs = list(self.runs.values())
            worked = False
            for run in runs:
                worked |= self._tend(run)
            if not worked:
                _close_db()
                self._stopped.wait(0.05)
        _close_db()

    def _tend(self, run: TaskRun) -> bool:
        """Flush, finish or forget one task; True when it wrote something."""
        wrote = False
        try:
            if run.writer.due():
                run.writer.flush()
                wrote = True
            last = run.writer.last  # whichever thread flushed last
            if last.finished:
                run.finished = True
            elif last.total and last.done >= last.total and not run.final_pending:
                run.final_pending = (AUTO_STATUS, MessageType.COMPLETE)
            if run.fail_reason and not run.finished and run.quiet():
                queue.fail_task(run.task_id, run.fail_reason)
                run.finished = True
                wrote = True
            if run.final_pending and not run.finished and not run.writer.pending():
                status, kind = run.final_pending
                run.writer.finish(status, kind)
                run.finished = True
                wrote = True
            if run.cancelled and not run.finished and run.stopped() and not run.writer.pending():
                with run.lock:
                    run.buffer.clear()  # claimed, never started: given back with the rest just below
                queue.release(run.task_id, self.name)
                if queue.finalize_cancelled(run.task_id):
                    log.info("task=%s cancelled", run.task_id)
                run.finished = True
                wrote = True
        except Exception as exc:  # noqa: BLE001 - retried at the next tick (the writer backs off)
            self._note_error(f"recording results of task {run.task_id}", exc)
            _close_db()
            return False
        if run.quiet() and not run.writer.pending():
            idle_for = time.monotonic() - run.last_active
            if run.finished or (idle_for > RUN_IDLE_DROP_S and run.idle_until > time.monotonic()):
                self._forget(run)
        return wrote

    def _forget(self, run: TaskRun) -> None:
        with self._runs_lock:
            if self.runs.get(run.task_id) is run:
                del self.runs[run.task_id]
            metrics.set_tasks_running(len(self.runs))
        if run.finished and not run.counted:
            run.counted = True
            try:
                status = ProgressTask.objects.filter(pk=run.task_id).values_list("status", flat=True).first()
                if status in FINISHED_STATUSES:
                    metrics.task_finished(status)
            except Exception:  # noqa: BLE001 - metrics never break a task
                log.debug("task status for the metrics not read", exc_info=True)

    # --- heartbeat ------------------------------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        renew_every = max(0.5, min(10.0, self.lease / 3))
        sweep_every = max(1.0, self.lease / 2)
        last_renew = time.monotonic()
        last_sweep = 0.0
        while not self._stopped.wait(CANCEL_POLL_S):
            try:
                with self._runs_lock:
                    runs = dict(self.runs)
                if runs:
                    for task_id, flags in queue.task_flags(runs).items():
                        run = runs[task_id]
                        if flags["cancel"] and not run.cancelled:
                            with run.lock:
                                run.cancelled = True
                            log.info("task=%s: cancel requested; stopping at the next node boundary", task_id)
                        if flags["finished"] and not run.finished:
                            run.finished = True
                            self._release_buffer(run, "finished elsewhere")
                now = time.monotonic()
                if now - last_renew >= renew_every:
                    last_renew = now
                    held = [t for t, r in runs.items() if not r.finished]
                    ok = queue.renew_lease(self.name, held, self.role, self.concurrency)
                    if not ok and self.lease_ok:
                        log.warning("worker %s: its lease had expired (no heartbeat for %.0fs): nodes it claimed "
                                    "may be run by another worker; it drops what it has not started", self.name,
                                    self.lease)
                        for run in runs.values():
                            self._release_buffer(run, "lease expired", give_back=False)
                    self.lease_ok = ok
                if now - last_sweep >= sweep_every:
                    last_sweep = now
                    repaired = queue.sweep()
                    if any(repaired.values()):
                        self._discover_at = 0.0
                        self._notify()
                self.last_error = ""
            except Exception as exc:  # noqa: BLE001
                self._note_error("renewing the lease", exc)
            finally:
                _close_db()

    # --- giving back ----------------------------------------------------------------------------------------------

    def _release_buffer(self, run: TaskRun, why: str, give_back: bool = True) -> None:
        with run.lock:
            names = list(run.buffer)
            run.buffer.clear()
        if names and give_back:
            try:
                queue.release(run.task_id, self.name, names)
            except Exception as exc:  # noqa: BLE001 - the lease expiry gives them back
                self._note_error(f"giving back unstarted nodes of task {run.task_id} ({why})", exc)

    def _release_buffers(self, why: str) -> None:
        with self._runs_lock:
            runs = list(self.runs.values())
        for run in runs:
            self._release_buffer(run, why)
        _close_db()

    def _settle_all(self, flush_until: float) -> bool:
        """At shutdown: record every queued result (retrying until `flush_until`), finish what is complete, hand
        the rest back."""
        with self._runs_lock:
            runs = list(self.runs.values())
        clean = True
        for run in runs:
            while run.writer.pending():
                try:
                    run.writer.flush()
                except Exception:  # noqa: BLE001 - retried until the deadline
                    if time.monotonic() > flush_until:
                        log.error("worker %s: %d result(s) of task=%s could not be recorded; their nodes stay "
                                  "claimed and are re-run after the lease", self.name, run.writer.pending(),
                                  run.task_id)
                        clean = False
                        break
                    time.sleep(0.5)
            if run.writer.pending():
                continue  # leave its claims: the lease hands them over
            try:
                last = run.writer.last
                if not run.finished and last.total and last.done >= last.total:
                    run.writer.finish(AUTO_STATUS, MessageType.COMPLETE)
                elif run.fail_reason and not run.finished:
                    queue.fail_task(run.task_id, run.fail_reason)
                elif run.cancelled and not run.finished:
                    queue.release(run.task_id, self.name)
                    queue.finalize_cancelled(run.task_id)
                else:
                    if run.cut:
                        log.info("task=%s: %d node operation(s) cut by the shutdown deadline go back to the queue "
                                 "without a result", run.task_id, len(run.cut))
                    queue.hand_back(run.task_id, self.name, "worker shutting down")
                    queue.finish_if_complete(run.task_id)
            except Exception as exc:  # noqa: BLE001 - the lease hands it over
                self._note_error(f"handing back task {run.task_id}", exc)
                clean = False
            self._forget(run)
        _close_db()
        return clean

    def _note_error(self, doing: str, exc: BaseException) -> None:
        text = " ".join(str(exc).split())[:300] or type(exc).__name__
        if text != self.last_error:
            log.warning("worker %s: %s failed: %s", self.name, doing, text)
        self.last_error = text

