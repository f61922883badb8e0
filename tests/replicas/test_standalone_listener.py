"""progress.listener=standalone: two `progress_listen` processes feed a channels-redis layer shared by two web
processes that open no LISTEN connection. A client on A sees every message of a batch run elsewhere, once, in
real time (the safety poll is effectively off), and keeps doing so when one listener is killed mid-batch."""

import signal
import time

import pytest
from django.db import connection

from nodes.selectors import list_nodes
from progress.models import ProgressTask
from tests.progress.test_live_daphne import Browserless, drain_pending, open_ws, recv

from .conftest import (
    assert_every_message_once,
    assert_realtime,
    collect,
    readyz,
    scrape,
    start_batch,
    wait_for_log,
    wait_for_notifier,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

POLL_OFF = {"PROGRESS_SAFETY_POLL_INTERVAL": "3600000", "PROGRESS_POLL_INTERVAL": "60000"}
REALTIME_BOUND_S = 3.0  # against a poll of 60 s (fallback) and 3,600 s (safety): only doorbells get there


def listener_connections() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT application_name, count(*) FROM pg_stat_activity "
                       "WHERE application_name LIKE 'kubenode-listener:%%' AND datname = current_database() GROUP BY 1")
        return dict(cursor.fetchall())


def verified_listeners(state: dict) -> set[str]:
    return {r["replica"] for r in state.get("listeners", []) if r.get("verified") and not r.get("fallback")}


def test_standalone_listeners_deliver_in_real_time_and_survive_one_killed_mid_batch(
        big_cluster, daphne_replicas, standalone_listeners, worker_processes, throwaway_redis):
    redis_port, _ = throwaway_redis  # a Redis of this test's own: the shared layer and nothing else on it
    env = {"PROGRESS_NOTIFY_TYPE": "postgres", "PROGRESS_LISTENER": "standalone",
           "PROGRESS_REDIS_ADDR": f"127.0.0.1:{redis_port}", **POLL_OFF}
    l1, l2 = standalone_listeners("L1", **env), standalone_listeners("L2", **env)
    a, b = daphne_replicas("A", **env), daphne_replicas("B", **env)
    worker = worker_processes("worker", **env)  # runs the batch; the web processes only serve
    for web in (a, b):
        state = wait_for_notifier(web, lambda s: verified_listeners(s) == {"L1", "L2"})
        assert (state["listener"], state["requested"], state["effective"]) == ("standalone", "postgres", "postgres")
    # the listeners LISTEN, the web processes and the worker do not (the worker has its own "task queued" one)
    assert listener_connections() == {"kubenode-listener:L1": 1, "kubenode-listener:L2": 1}
    assert "opens no LISTEN connection" in a.log()
    for listener in (l1, l2):
        ready = readyz(listener)
        assert ready["status"] == "ok" and ready["listener"]["effective"] == "postgres", ready

    names = sorted(n.name for n in list_nodes(big_cluster))
    on_a, on_b = Browserless(a.http_url), Browserless(b.http_url)
    ws = open_ws(a, on_a.login("ann", "secret-pw"))
    assert recv(ws)["type"] == "snapshot"
    on_b.login("ann", "secret-pw")
    killed_at = []

    def kill_l1(frames):
        if len(frames) == 150 and not killed_at:
            l1.process.send_signal(signal.SIGKILL)  # mid-batch, no goodbye: its announcement just expires
            killed_at.append(time.time())

    arrivals = []
    task_id = start_batch(on_b, big_cluster, names, concurrency=4)
    frames = collect(ws, task_id, on_frame=kill_l1, arrivals=arrivals)

    assert killed_at and l1.process.wait(5) == -signal.SIGKILL
    assert ProgressTask.objects.get(pk=task_id).owner == "worker"
    assert_every_message_once(frames, task_id)
    assert drain_pending(ws) == []  # two listeners, each doorbell twice: still every message once
    slowest = assert_realtime(arrivals, task_id, REALTIME_BOUND_S)
    after_kill = [at for at, _ in arrivals if at > killed_at[0]]
    assert len(after_kill) > 100, "L2 alone kept delivering after L1 was killed"
    # the doorbells came through the postgres backend of the listener that survived, and reached the layer
    sent = scrape(worker)['kubenode_doorbells_sent_total{backend="postgres"}']
    metrics = scrape(l2)
    assert metrics['kubenode_doorbells_received_total{backend="postgres"}'] >= sent >= 2
    assert metrics['kubenode_doorbells_received_total{backend="postgres"}'] >= 1
    assert metrics['kubenode_doorbells_forwarded_total{outcome="ok"}'] >= 1
    assert metrics["kubenode_listener_connected"] == 1 and metrics["kubenode_notifier_fallback_active"] == 0
    # the web processes see L1 gone (its announcement expired), L2 still verified on postgres
    state = wait_for_notifier(a, lambda s: verified_listeners(s) == {"L2"} and len(s["listeners"]) == 1)
    assert (state["effective"], state["healthy"], state["fallback"]) == ("postgres", True, False)
    assert readyz(a)["status"] == "ok"
    ws.close()

    assert l2.stop() == 0  # SIGTERM: stops announcing, closes, exits 0
    assert "progress_listen: stopped (postgres -> postgres)" in l2.log()
    state = wait_for_notifier(a, lambda s: not s.get("listeners"))
    assert state["healthy"] is False and "no standalone listener" in state["why"]
    assert readyz(a)["status"] == "degraded"
    wait_for_log(a, r"no healthy standalone listener")
    print(f"slowest message {slowest * 1000:.0f} ms")
