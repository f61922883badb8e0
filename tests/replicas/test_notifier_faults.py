"""The notifier tells the truth: unreachable database, recovery, DB_HOST honoured, notifier_check, progress_listen."""

import json
import os
import re
import subprocess
import sys
import time
import uuid

import pytest
from django.db import connection, transaction

from progress.notify.base import Doorbell
from progress.notify.postgres import PostgresNotifier
from tests.fixtures.services import free_port

from .conftest import ROOT, manage, readyz, wait_for_log, wait_for_notifier
from .tcp_proxy import TcpProxy

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_database_unreachable_at_start_falls_back_then_switches_back(daphne_replicas, test_database_env):
    real = (test_database_env["DB_HOST"], int(test_database_env["DB_PORT"]))
    port = free_port()  # nothing listens here yet: the database is unreachable
    env = {"DB_PORT": str(port), "PROGRESS_NOTIFY_TYPE": "postgres", "DB_PASSWORD": "pw-never-shown"}
    a = daphne_replicas("A", **env)

    log = wait_for_log(a, r"requested postgres, effective polling \(fallback\)")
    assert f"host:port:      {real[0]}:{port}" in log and "password set:   yes" in log
    assert "pgbouncer" in log and "self-probe went through" not in log and "not verified yet" in log
    assert "pw-never-shown" not in log
    ready = readyz(a)
    assert ready["status"] == "unavailable" and ready["notifier"]["effective"] == "polling"
    assert ready["notifier"]["fallback"] is True and ready["notifier"]["healthy"] is False

    checked = manage("notifier_check", env={**test_database_env, **env})
    assert checked.returncode != 0
    assert "healthy:     no" in checked.stdout and "would fall back to polling" in checked.stdout
    assert f"{real[0]}:{port}" in checked.stdout and "pw-never-shown" not in checked.stdout + checked.stderr

    proxy = TcpProxy(real, port=port).start()  # the database becomes reachable
    try:
        wait_for_log(a, r"postgres recovered: switching back from polling to postgres", timeout=60)
        state = wait_for_notifier(a, lambda s: s.get("verified"))
        assert (state["effective"], state["fallback"], readyz(a)["status"]) == ("postgres", False, "ok")
    finally:
        proxy.stop()


def test_listener_connects_to_the_host_django_uses(daphne_replicas, test_database_env):
    """DB_HOST in the environment: the listener goes there too (never to a default of its own)."""
    real = (test_database_env["DB_HOST"], int(test_database_env["DB_PORT"]))
    proxy = TcpProxy(real, host="127.0.0.2").start()  # only DB_HOST:port reaches the database
    try:
        a = daphne_replicas("A", DB_HOST="127.0.0.2", DB_PORT=str(proxy.port), PROGRESS_NOTIFY_TYPE="postgres")
        state = wait_for_notifier(a, lambda s: s.get("verified"))
        assert state["effective"] == "postgres"
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kubenode-listener:A'")
            assert cursor.fetchone()[0] == 1
        assert proxy.accepted >= 2  # Django's readiness check and the listener, both through DB_HOST
    finally:
        proxy.stop()


@pytest.mark.parametrize("backend", ["postgres", "redis", "polling"])
def test_notifier_check_round_trip(backend, test_database_env, redis_addr):
    env = {**test_database_env, "PROGRESS_NOTIFY_TYPE": backend, "PROGRESS_REDIS_ADDR": redis_addr}
    result = manage("notifier_check", "--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["requested"], report["effective"], report["healthy"], report["fallback"]) == \
        (backend, backend, True, False)
    assert report["round_trip_ms"] > 0


def test_notifier_check_redis_down_is_non_zero_with_diagnostics(test_database_env):
    env = {**test_database_env, "PROGRESS_NOTIFY_TYPE": "redis", "PROGRESS_REDIS_ADDR": f"127.0.0.1:{free_port()}",
           "PROGRESS_REDIS_PASSWORD": "redis-secret-value"}
    result = manage("notifier_check", env=env)
    assert result.returncode == 1
    assert "the redis backend is not working" in result.stdout and "password set:   yes" in result.stdout
    assert "redis-secret-value" not in result.stdout + result.stderr


def test_progress_listen_prints_doorbells_as_they_arrive(test_database_env):
    env = {**test_database_env, "PROGRESS_NOTIFY_TYPE": "postgres", "KUBENODE_REPLICA_ID": "printer"}

    proc = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "progress_listen", "--print", "--seconds", "60"],
                            cwd=ROOT, env={**os.environ, **env, "DJANGO_SETTINGS_MODULE": "kubenode.settings"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until the listener is LISTENing
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                               "'kubenode-listener:printer' AND query ILIKE 'LISTEN%%'")
                if cursor.fetchone()[0]:
                    break
            time.sleep(0.1)
        task = uuid.uuid4()
        for seq in (1, 2, 3):  # what the writer does inside its transaction, on the postgres backend
            with transaction.atomic():
                PostgresNotifier(replica="test-runner").ring(Doorbell(task=str(task), user=7, seq=seq,
                                                                      replica="test-runner"))
        lines = []
        while len(lines) < 3:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            if line.startswith("doorbell"):
                lines.append(line.strip())
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert [re.search(r"seq=(\d+)", ln).group(1) for ln in lines] == ["1", "2", "3"]
    assert all(f"task={task} user=7" in ln and "from=test-runner" in ln for ln in lines)
    assert "in-memory" in err and "stopped (postgres -> postgres)" in err


def test_silently_dead_listener_connection_is_found_by_the_self_probe(daphne_replicas, test_database_env):
    """No RST, no error: only the idle self-probe notices the connection is dead; the listener reconnects."""
    real = (test_database_env["DB_HOST"], int(test_database_env["DB_PORT"]))
    proxy = TcpProxy(real).start()
    try:
        a = daphne_replicas("A", DB_PORT=str(proxy.port), PROGRESS_NOTIFY_TYPE="postgres",
                            PROGRESS_LISTENER_PROBE_INTERVAL="1000")
        wait_for_log(a, r"verified: a self-probe went through")
        proxy.freeze()  # every connection open now is dead, Django's pooled ones too: only the log is asked
        log = wait_for_log(a, r"self-probe not answered", timeout=60)
        assert "effective polling (fallback)" in log
        wait_for_log(a, r"postgres recovered: switching back from polling to postgres", timeout=60)
    finally:
        proxy.stop()


def test_redis_through_sentinel(daphne_replicas, test_database_env, redis_sentinel):
    env = {"PROGRESS_NOTIFY_TYPE": "redis", "PROGRESS_REDIS_SENTINEL_ADDRS": f"127.0.0.1:{redis_sentinel}",
           "PROGRESS_REDIS_ADDR": f"127.0.0.1:{free_port()}"}  # the plain address is not used with Sentinels
    checked = manage("notifier_check", "--json", env={**test_database_env, **env})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["effective"] == "redis"
    a = daphne_replicas("A", **env)
    state = wait_for_notifier(a, lambda s: s.get("verified"))
    assert (state["effective"], state["fallback"]) == ("redis", False)
