"""The batch runner feeds the metrics (tasks by status, running tasks, nodes processed, API errors by code) and
stops cleanly: batches refused while shutting down, unfinished tasks interrupted at the deadline."""


import pytest
from django.core.exceptions import ValidationError
from prometheus_client import REGISTRY

from kubenode import serve
from progress import services
from progress.models import MessageType, ProgressMessage, ProgressTask, TaskStatus
from progress.runner import get_runner, reset_runner
from tests.progress.helpers import make_user

from .conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


@pytest.fixture(autouse=True)
def fresh_runner():
    reset_runner(5)
    yield
    reset_runner(5)


def sample(name, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def unschedulable(sim, node: str) -> bool:
    import requests

    response = requests.get(f"{sim.url}/api/v1/nodes/{node}", timeout=30,
                            headers={"Authorization": f"Bearer {sim.admin_token}"})
    return bool(response.json().get("spec", {}).get("unschedulable"))


def test_failed_batch_counts_task_nodes_and_api_errors(kube_sim):
    from nodes.selectors import list_nodes
    from nodes.services import import_cluster

    sim = kube_sim(nodes=12, fail_rate=1.0)  # every write answered 500
    cluster = import_cluster("sim", sim.kubeconfig_text, simulated=True)
    workers = [n.name for n in list_nodes(cluster) if n.name.startswith("worker")][:4]
    before = (sample("kubenode_tasks_total", status="failed"),
              sample("kubenode_nodes_processed_total", action="cordon", outcome="failed"),
              sample("kubenode_kube_api_errors_total", code="500"))
    task = services.create_task(make_user("ann"), cluster, "cordon", {"reason": "test"}, names=workers)
    wait_for(lambda: ProgressTask.objects.get(pk=task.pk).is_finished, "the batch to finish")
    assert ProgressTask.objects.get(pk=task.pk).status == TaskStatus.FAILED
    wait_for(lambda: sample("kubenode_tasks_total", status="failed") == before[0] + 1, "the task metric")
    assert sample("kubenode_nodes_processed_total", action="cordon", outcome="failed") == before[1] + 4
    assert sample("kubenode_kube_api_errors_total", code="500") >= before[2] + 4
    wait_for(lambda: sample("kubenode_tasks_running") == 0, "no running task")


def test_runner_shutdown_refuses_batches_and_interrupts_at_the_deadline(kube_sim):
    from nodes.selectors import get_node, list_nodes
    from nodes.services import import_cluster

    sim = kube_sim(nodes=30)
    cluster = import_cluster("sim", sim.kubeconfig_text, simulated=True)
    workers = [n.name for n in list_nodes(cluster) if n.name.startswith("worker") and n.status == "Ready"]
    blocked = next(n for n in workers if any(p["name"].startswith("ledger-") for p in get_node(cluster, n).pods))
    user = make_user("bob", staff=True)
    interrupted_before = sample("kubenode_tasks_total", status="interrupted")
    task = services.create_task(user, cluster, "drain", {"timeout": 600, "ignore_daemonsets": True,
                                                         "delete_emptydir_data": True, "force": True},
                                names=[blocked])
    # the drain cordons first, then waits on the budget: cordoned means its node operation is in flight
    wait_for(lambda: unschedulable(sim, blocked), "the drain to cordon its node")
    wait_for(lambda: sample("kubenode_tasks_running") == 1, "the running gauge")
    runner = get_runner()
    try:
        serve._shutting_down.set()
        with pytest.raises(ValidationError, match="shutting down and accepts no new batches"):
            services.create_task(user, cluster, "cordon", {"reason": "late"}, names=[workers[0]])
        runner.shutdown(1.0)
    finally:
        serve._shutting_down.clear()
    task = ProgressTask.objects.get(pk=task.pk)
    assert task.status == TaskStatus.INTERRUPTED
    row = ProgressMessage.objects.get(task=task, type=MessageType.PROGRESS)
    assert row.node == blocked and row.outcome == "failed" and "stopped" in row.error
    assert sample("kubenode_tasks_total", status="interrupted") == interrupted_before + 1
    assert sample("kubenode_tasks_running") == 0
    assert ProgressTask.objects.filter(action="cordon").count() == 0  # the refused batch left nothing behind
