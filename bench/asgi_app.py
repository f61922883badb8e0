"""kubenode's ASGI application plus one bench-only HTTP path, so a real replica can be told to commit a step.

``/__bench/batch?cluster=C&action=A&params=JSON[&submit=0]`` queues a real batch on every node for the workers (a
benchmark starts them with ``stack.worker``; ``submit=0``: recorded only, ``/__bench/submit?task=ID`` queues it, so a
client can watch first);
``/__bench/rings?task=ID`` lists when this process rang the doorbell for the task (one per flush);
``/__bench/task?total=N`` creates a running task for the bench user; ``/__bench/step?task=ID&node=NAME[&final=1]``
commits one step through kubenode's own writer (rows, counters and the doorbell of the configured notifier, in one
transaction) and answers with the wall-clock time taken just before the commit began. Used only by ``bench/``.
"""

from __future__ import annotations

import json
import os
import time
from urllib.parse import parse_qs

from kubenode.asgi import application as kubenode_application


def _create_task(total: int) -> str:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from progress.models import ProgressTarget, ProgressTask

    user = get_user_model().objects.get(username=os.environ.get("BENCH_USER", "bench"))
    now = timezone.now()
    task = ProgressTask.objects.create(user=user, cluster_name="bench", action="label", total=total,
                                       status="running", started_at=now, heartbeat_at=now, owner="bench")
    # as every real task: a target per node (claimed by this replica), so each step's flush marks its target done
    names = [f"n{i}" for i in range(total)] + [f"w{i}" for i in range(10)]  # w…: warm-up steps
    ProgressTarget.objects.bulk_create([ProgressTarget(task=task, position=i, name=name, worker="bench",
                                                       claimed_at=now) for i, name in enumerate(names)])
    return str(task.pk)


def _step(task_id: str, node: str, final: bool) -> dict:
    from django.db import connection

    from progress.models import MessageType
    from progress.writer import Event, flush_events

    _count_rings()
    # The runner's flusher holds its connection while a task runs: check one out of the pool before the clock starts.
    connection.ensure_connection()
    t0 = time.time()
    if final:
        seq = flush_events(task_id, [Event(type=MessageType.COMPLETE)], final_status="auto")
    else:
        seq = flush_events(task_id, [Event(type=MessageType.PROGRESS, node=node, outcome="ok", ok=True)])
    return {"t0": t0, "seq": seq, "t1": time.time()}


RINGS: dict[str, list[float]] = {}


def _count_rings() -> None:
    """Record the wall time of every doorbell rung in this process, per task (counts coalesced flushes)."""
    from progress.notify import get_notifier

    notifier = get_notifier()
    if getattr(notifier, "_bench_counted", False):
        return
    original = notifier.ring

    def ring(doorbell):
        RINGS.setdefault(str(doorbell.task), []).append(time.time())
        return original(doorbell)

    notifier.ring = ring
    notifier._bench_counted = True


def _submit(task_id: str) -> dict:
    from progress import services
    from progress.models import ProgressTask

    _count_rings()
    services.queue_task(ProgressTask.objects.get(pk=task_id))
    return {"task": task_id}


def _batch(cluster: str, action: str, params: str, submit: bool = True) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from nodes import batches
    from nodes.models import Cluster

    _count_rings()
    user = get_user_model().objects.get(username=os.environ.get("BENCH_USER", "bench"))
    with transaction.atomic():
        task = batches.start_batch(user, Cluster.objects.get(name=cluster), action, json.loads(params),
                                   all_nodes=True, queued=submit)
    return {"task": str(task.pk), "total": task.total}


def _notifier() -> dict:
    from progress.notify import get_notifier

    notifier = get_notifier()
    return {"effective": type(notifier).__name__, "status": notifier.status()}


async def _bench_http(scope, receive, send) -> None:
    from channels.db import database_sync_to_async

    from progress.notify.memory import remember_serving_loop

    remember_serving_loop()
    query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
    op = scope["path"].rsplit("/", 1)[-1]
    try:
        if op == "task":
            body = {"task": await database_sync_to_async(_create_task)(int(query.get("total", "1")))}
        elif op == "step":
            body = await database_sync_to_async(_step)(query["task"], query.get("node", ""), query.get("final") == "1")
        elif op == "batch":
            body = await database_sync_to_async(_batch)(query["cluster"], query["action"], query.get("params", "{}"),
                                                         query.get("submit", "1") == "1")
        elif op == "submit":
            body = await database_sync_to_async(_submit)(query["task"])
        elif op == "rings":
            body = {"rings": RINGS.get(query["task"], [])}
        elif op == "notifier":
            body = await database_sync_to_async(_notifier)()
        else:
            body, status = {"error": f"unknown op {op!r}"}, 404
        status = 200 if "error" not in body else 404
    except Exception as exc:  # noqa: BLE001 - reported to the benchmark, which records it
        body, status = {"error": f"{type(exc).__name__}: {exc}"}, 500
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"].startswith("/__bench/"):
        while (await receive())["type"] != "http.request":
            pass
        return await _bench_http(scope, receive, send)
    return await kubenode_application(scope, receive, send)
