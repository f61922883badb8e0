"""A worker process serves its own probes and metrics (worker.health_port): tasks, node operations and Kubernetes
API errors move because of a real batch it ran, scraped from /metrics; /readyz says whether it can work."""

import re

import pytest

from nodes import batches
from progress.models import ProgressTask, TaskStatus
from tests.progress.helpers import make_user, until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


def sample(text: str, name: str, **labels) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+)(?:\{([^}]*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        got = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
        if got == want:
            return float(match.group(3))
    return 0.0


def test_a_failed_batch_moves_the_worker_metrics_and_readyz_reports_the_worker(kube_sim, worker_processes):
    from nodes.selectors import list_nodes
    from nodes.services import import_cluster

    sim = kube_sim(nodes=12, fail_rate=1.0)  # every write answered 500
    cluster = import_cluster("sim", sim.kubeconfig_text, simulated=True)
    names = [n.name for n in list_nodes(cluster) if n.name.startswith("worker")][:4]
    worker = worker_processes("w-metrics", concurrency=2)
    code, ready = worker.readyz()
    assert code == 200 and ready["checks"]["database"] == {"ok": True}
    assert ready["worker"]["worker"] == "w-metrics" and ready["worker"]["doorbell"]["backend"] == "postgres"
    before = worker.metrics()
    assert sample(before, "kubenode_tasks_total", status="failed") == 0

    task = batches.start_batch(make_user("ann"), cluster, "cordon", {"reason": "test"}, names=names)
    task = until(lambda: (t := ProgressTask.objects.get(pk=task.pk)).is_finished and t, 60)
    assert task.status == TaskStatus.FAILED and task.failed == 4

    text = until(lambda: (m := worker.metrics()) and sample(m, "kubenode_tasks_total", status="failed") == 1 and m,
                 30, what="the task metric")
    assert sample(text, "kubenode_nodes_processed_total", action="cordon", outcome="failed") == 4
    assert sample(text, "kubenode_kube_api_errors_total", code="500") >= 4
    assert sample(text, "kubenode_worker_claimed_targets_total") == 4
    assert sample(text, "kubenode_tasks_running") == 0
    assert sample(text, "kubenode_worker_node_operations_in_flight") == 0
    # the task queued doorbell woke it (not the 10 s safety poll)
    assert sample(text, "kubenode_worker_wakeups_total", source="doorbell") >= 1
    assert sample(text, "kubenode_flush_failures_total") == 0
    assert worker.get("/healthz") == (200, '{"status": "ok"}')
    assert worker.get("/nothing")[0] == 404
