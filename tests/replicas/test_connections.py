"""The database connections each role holds, counted in pg_stat_activity by the names docs/notifiers.md gives
("Connections per role"), at rest and after activity, against the numbers that page states."""

import re
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from nodes.selectors import list_nodes
from progress.models import ProgressTask
from tests.progress.test_live_daphne import Browserless, open_ws, recv

from .conftest import readyz, start_batch, wait_for_notifier

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

DOC = (Path(__file__).resolve().parents[2] / "docs" / "notifiers.md").read_text()
POOL = {"DB_MAX_OPEN_CONNS": "8", "DB_MAX_IDLE_CONNS": "2"}


def connections_of(replica: str) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT split_part(application_name, ':', 1), count(*) FROM pg_stat_activity "
                       "WHERE application_name LIKE %s AND datname = current_database() GROUP BY 1", [f"%:{replica}"])
        return dict(cursor.fetchall())


def documented(role: str) -> str:
    """The row of the role in the page's table."""
    row = re.search(rf"^\| {re.escape(role)} \|(.+)$", DOC, re.M)
    assert row, f"docs/notifiers.md has no row for {role}"
    return row.group(1)


def test_web_with_the_embedded_listener(daphne_replicas, tmp_path):
    web = daphne_replicas("CW", PROGRESS_NOTIFY_TYPE="postgres", **POOL)
    wait_for_notifier(web, lambda s: s.get("verified"))
    readyz(web)
    # at rest: the pool's idle connections (one more while it filled), the LISTEN connection, the probe's sender
    rest = connections_of("CW")
    assert rest.pop("kubenode-readyz", 0) <= 1  # a readiness check may be in flight
    assert 2 <= rest.pop("kubenode") <= 3 and rest == {"kubenode-listener": 1, "kubenode-probe": 1}
    row = documented("web")
    assert "`max_idle_conns` at rest" in row and "max(`max_idle_conns`, 3) + 1" in row

    # activity on every thread that queries: pages and probes at once, a WebSocket's reads, the table poll
    _operator("ann")
    ws = open_ws(web, Browserless(web.http_url).login("ann", "secret-pw"))
    assert recv(ws)["type"] == "snapshot"
    threads = [threading.Thread(target=_hammer, args=(web.http_url,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    peak = {}
    while any(t.is_alive() for t in threads):
        for name, count in connections_of("CW").items():
            peak[name] = max(peak.get(name, 0), count)
    for thread in threads:
        thread.join()
    ws.close()
    assert 2 <= peak["kubenode"] <= 4, peak  # max(max_idle_conns, 3) + 1: never max_open_conns (8)
    assert peak["kubenode-listener"] == peak["kubenode-probe"] == 1
    assert peak.get("kubenode-readyz", 0) <= 1  # one readiness check at a time, closed after it


def test_standalone_listener_and_its_web(daphne_replicas, standalone_listeners, throwaway_redis):
    port, _ = throwaway_redis
    env = {"PROGRESS_NOTIFY_TYPE": "postgres", "PROGRESS_LISTENER": "standalone",
           "PROGRESS_REDIS_ADDR": f"127.0.0.1:{port}", **POOL}
    listener = standalone_listeners("CL", **env)
    web = daphne_replicas("CWS", **env)
    wait_for_notifier(web, lambda s: any(r.get("verified") for r in s.get("listeners", [])))
    readyz(web)
    assert readyz(listener)["status"] == "ok"
    # the listener: one pooled connection for its table polls, whatever max_idle_conns says
    listener_rest = connections_of("CL")
    assert listener_rest == {"kubenode": 1, "kubenode-listener": 1, "kubenode-probe": 1}, listener_rest
    # its web process opens no LISTEN connection: only its pool
    web_rest = connections_of("CWS")
    assert web_rest.pop("kubenode-readyz", 0) <= 1
    assert set(web_rest) <= {"kubenode"} and web_rest.get("kubenode", 0) <= 3, web_rest
    assert "1 (`kubenode:`" in documented("listener (standalone)")


def _operator(name: str) -> None:
    from nodes.roles import ensure_groups
    from tests.progress.test_live_daphne import _user

    ensure_groups()
    _user(name, "operator")


def _hammer(base: str) -> None:
    for path in ("/readyz", "/login/", "/healthz", "/readyz", "/login/"):
        try:
            urllib.request.urlopen(base + path, timeout=20).read()
        except OSError:
            pass


def test_worker_at_rest_and_running_a_batch(small_cluster, daphne_replicas, worker_processes):
    env = {"PROGRESS_NOTIFY_TYPE": "postgres", **POOL}
    web = daphne_replicas("CWW", **env)
    worker = worker_processes("CK", concurrency=4, **env)
    wait_for_notifier(web, lambda s: s.get("verified"))
    deadline = time.monotonic() + 30
    while worker.readyz()[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    rest = connections_of("CK")
    client = Browserless(web.http_url)
    client.login("ann", "secret-pw")
    task_id = start_batch(client, small_cluster, sorted(n.name for n in list_nodes(small_cluster)), concurrency=4)
    peak = {}
    while not ProgressTask.objects.get(pk=task_id).is_finished and time.monotonic() < deadline + 120:
        for name, count in connections_of("CK").items():
            peak[name] = max(peak.get(name, 0), count)
    print("worker at rest", rest, "peak", peak)
    row = documented("worker")
    assert rest.pop("kubenode-readyz", 0) <= 1  # a readiness check may be in flight
    assert 2 <= rest.pop("kubenode") <= 3 and rest == {"kubenode-worker": 1}, rest
    assert peak["kubenode"] <= 4 + 2 + 1, peak  # worker.concurrency + flusher + heartbeat (+1 while filling)
    assert peak["kubenode-worker"] == 1 and peak.get("kubenode-slots", 0) <= 1 and peak.get("kubenode-readyz", 0) <= 1
    assert "`worker.concurrency` + 2" in row and "`kubenode-worker:` 1" in row and "`kubenode-slots:`" in row
