"""The worker's doorbell in real time: a task queued on a web process wakes an idle worker process through the
configured backend ("task queued"), not through its safety poll, which is effectively off here."""

import re
import time

import pytest

from nodes.selectors import list_nodes
from progress.models import ProgressTask
from tests.progress.test_live_daphne import Browserless

from .conftest import start_batch, wait_for_notifier

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

POLL_OFF = {"PROGRESS_SAFETY_POLL_INTERVAL": "3600000", "PROGRESS_POLL_INTERVAL": "60000"}
START_BOUND_S = 3.0  # from the task's creation to its first claim; the worker's own poll comes after an hour


def wakeups(worker, source: str) -> float:
    match = re.search(rf'^kubenode_worker_wakeups_total\{{source="{source}"\}} (\S+)$', worker.metrics(), re.M)
    return float(match.group(1)) if match else 0.0


@pytest.mark.parametrize("backend", ["postgres", "redis"])
def test_a_task_queued_on_a_web_process_wakes_an_idle_worker_through_its_doorbell(
        backend, small_cluster, daphne_replicas, worker_processes, redis_addr):
    env = {"PROGRESS_NOTIFY_TYPE": backend, "PROGRESS_REDIS_ADDR": redis_addr, **POLL_OFF}
    web = daphne_replicas("W", **env)
    worker = worker_processes("worker", **env)
    wait_for_notifier(web, lambda s: s.get("verified"))
    deadline = time.monotonic() + 30
    while worker.readyz()[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # idle: whatever wakes it next is the doorbell
    before = wakeups(worker, "doorbell")
    client = Browserless(web.http_url)
    client.login("ann", "secret-pw")
    task_id = start_batch(client, small_cluster, sorted(n.name for n in list_nodes(small_cluster))[:20])
    deadline = time.monotonic() + 60
    while not ProgressTask.objects.get(pk=task_id).is_finished and time.monotonic() < deadline:
        time.sleep(0.1)
    task = ProgressTask.objects.get(pk=task_id)
    assert task.is_finished and task.owner == "worker" and task.done == 20, worker.log()[-2000:]
    assert (task.started_at - task.created_at).total_seconds() < START_BOUND_S
    assert wakeups(worker, "doorbell") > before
