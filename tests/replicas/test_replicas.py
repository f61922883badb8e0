"""Three daphne replicas on one database: a client on A sees every message of a batch started on B and run by a
worker process.

PostgreSQL LISTEN/NOTIFY (no Redis), Redis through channels-redis, and polling; the listener's backend killed
with pg_terminate_backend mid-batch; Redis stopped mid-batch. Every message once, in seq order, exact counts.
"""

import re

import pytest
from django.db import connection

from nodes.selectors import list_nodes
from progress.models import ProgressTask
from tests.progress.test_live_daphne import Browserless, open_ws, recv

from .conftest import assert_every_message_once, collect, start_batch, wait_for_log, wait_for_notifier

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

VERIFIED = {"postgres": lambda s: s.get("verified") and s.get("effective") == "postgres",
            "redis": lambda s: s.get("verified") and s.get("effective") == "redis",
            "polling": lambda s: s.get("effective") == "polling" and s.get("healthy")}


def backend_env(backend: str, redis_addr: str) -> dict:
    env = {"PROGRESS_NOTIFY_TYPE": backend}
    if backend == "redis":
        env["PROGRESS_REDIS_ADDR"] = redis_addr
    return env


def watch_on_a_run_on_b(daphne_replicas, worker_processes, cluster, backend: str, **env):
    """Replicas A and B, verified, and a worker; ann's WebSocket on A and her HTTP session on B; the node names."""
    a, b = daphne_replicas("A", **env), daphne_replicas("B", **env)
    worker_processes("worker", **env)
    for replica in (a, b):
        wait_for_notifier(replica, VERIFIED[backend])
    on_a, on_b = Browserless(a.http_url), Browserless(b.http_url)
    ws = open_ws(a, on_a.login("ann", "secret-pw"))
    assert recv(ws)["type"] == "snapshot"
    on_b.login("ann", "secret-pw")
    return a, on_b, ws, sorted(n.name for n in list_nodes(cluster))


@pytest.mark.parametrize("backend", ["postgres", "redis", "polling"])
def test_client_on_a_sees_every_message_of_a_batch_run_on_b(backend, big_cluster, daphne_replicas, redis_addr,
                                                            worker_processes):
    env = backend_env(backend, redis_addr)
    replicas = [daphne_replicas(name, **env) for name in ("A", "B", "C")]
    worker_processes("worker", **env)
    for replica in replicas:
        state = wait_for_notifier(replica, VERIFIED[backend])
        assert state["requested"] == backend and not state["fallback"]
    a, b, c = replicas
    names = sorted(n.name for n in list_nodes(big_cluster))
    on_a, on_b = Browserless(a.http_url), Browserless(b.http_url)
    ws = open_ws(a, on_a.login("ann", "secret-pw"))
    bob_ws = open_ws(c, Browserless(c.http_url).login("bob", "secret-pw"))
    assert recv(ws)["type"] == "snapshot" and recv(bob_ws)["type"] == "snapshot"
    on_b.login("ann", "secret-pw")

    task_id = start_batch(on_b, big_cluster, names, concurrency=10)
    frames = collect(ws, task_id)

    assert ProgressTask.objects.get(pk=task_id).owner == "worker"  # a worker ran it; A and B only served
    assert_every_message_once(frames, task_id)
    assert sorted(f["node"] for f in frames if f["type"] == "progress") == names
    from tests.progress.test_live_daphne import drain_pending

    assert drain_pending(ws) == [] and drain_pending(bob_ws) == []  # nothing twice; nothing for bob
    if backend != "polling":
        assert "verified: a self-probe went through this replica's listener" in a.log()
    ws.close()
    bob_ws.close()


def test_listener_backend_terminated_mid_batch_loses_nothing(big_cluster, daphne_replicas, worker_processes):
    a, on_b, ws, names = watch_on_a_run_on_b(daphne_replicas, worker_processes, big_cluster, "postgres",
                                             PROGRESS_NOTIFY_TYPE="postgres")
    terminated = []

    def terminate_once(frames):
        if len(frames) == 150 and not terminated:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE application_name = 'kubenode-listener:A'")
                terminated.extend(row[0] for row in cursor.fetchall())

    task_id = start_batch(on_b, big_cluster, names, concurrency=3)
    frames = collect(ws, task_id, on_frame=terminate_once)

    assert terminated == [True]  # exactly A's listener, found by its application_name
    assert_every_message_once(frames, task_id)
    log = wait_for_log(a, r"switching back from polling to postgres")
    assert "effective polling (fallback)" in log and "password set:   no" in log
    state = wait_for_notifier(a, VERIFIED["postgres"])
    assert state["reconnects"] >= 1 and state["listener"] == "connected"
    ws.close()

    # the admin shows the same state
    from django.contrib.auth.hashers import PBKDF2PasswordHasher
    from django.contrib.auth.models import User

    User.objects.create(username="root", is_staff=True, is_superuser=True,
                        password=PBKDF2PasswordHasher().encode("secret-pw", "saltsalt"))
    admin = Browserless(a.http_url)
    admin.login("root", "secret-pw")
    page = admin.get("/admin/progress/progresstask/").read().decode()
    assert "Progress notifier on replica A" in page
    assert re.search(r"Effective</th><td>postgres</td>", page) and "verified (round trip" in page


def test_redis_stopped_mid_batch_the_batch_still_completes(big_cluster, daphne_replicas, throwaway_redis,
                                                           worker_processes):
    port, redis_proc = throwaway_redis
    a, on_b, ws, names = watch_on_a_run_on_b(daphne_replicas, worker_processes, big_cluster, "redis",
                                             **backend_env("redis", f"127.0.0.1:{port}"))

    def stop_redis(frames):
        if len(frames) == 100 and redis_proc.poll() is None:
            redis_proc.kill()
            redis_proc.wait(5)

    task_id = start_batch(on_b, big_cluster, names, concurrency=3)
    frames = collect(ws, task_id, on_frame=stop_redis)

    assert redis_proc.poll() is not None
    assert_every_message_once(frames, task_id)
    log = wait_for_log(a, r"requested redis, effective polling \(fallback\)")
    assert f"127.0.0.1:{port}" in log
    assert wait_for_notifier(a, lambda s: s.get("fallback"))["effective"] == "polling"
    ws.close()
