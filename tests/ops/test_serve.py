"""The application as the container runs it (scripts/entrypoint.sh): probes, metrics, logs, migrations."""

import json
import time

import pytest

from kubenode import metrics
from tests.ops.conftest import get_json, http, run_entrypoint

pytestmark = pytest.mark.django_db(transaction=True)

METRIC_NAMES = (
    "kubenode_doorbells_sent_total", "kubenode_doorbells_received_total", "kubenode_notify_failures_total",
    "kubenode_notifier_fallback_active", "kubenode_listener_connected", "kubenode_listener_reconnects_total",
    "kubenode_delivery_latency_seconds", "kubenode_tasks_total", "kubenode_tasks_running",
    "kubenode_nodes_processed_total", "kubenode_kube_api_errors_total", "kubenode_delivery_backlog",
)


def test_probes_and_metrics_of_the_served_application(app_server):
    server = app_server()
    status, body = get_json(f"{server.http_url}/healthz")
    assert (status, body) == (200, {"status": "ok"})

    status, body = get_json(f"{server.http_url}/readyz")
    assert status == 200
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True}
    notifier = body["notifier"]
    assert {"requested", "effective", "healthy", "fallback", "why"} <= set(notifier)
    assert notifier["requested"] == "memory" and notifier["effective"] == "memory"

    status, text, headers = http("GET", f"{server.http_url}/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    for name in METRIC_NAMES:
        assert f"# TYPE {name} " in text, name  # families without samples yet still show HELP and TYPE
    # probes and scrapes need no login and are never cached
    assert "no-cache" in http("GET", f"{server.http_url}/readyz")[2].get("Cache-Control", "")


def test_readyz_is_unavailable_without_database_but_the_process_stays_alive(app_server, test_database_env):
    from tests.fixtures.services import free_port

    server = app_server("ops-nodb", DB_PORT=str(free_port()))  # nothing listens there
    status, body = get_json(f"{server.http_url}/readyz")
    assert status == 503 and body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["database"]["error"].split(":")[0] in ("PoolTimeout", "OperationalError")
    assert get_json(f"{server.http_url}/healthz") == (200, {"status": "ok"})


def test_json_logs_one_object_per_line_with_a_masked_startup_banner(app_server, test_database_env):
    server = app_server("ops-json", LOG_FORMAT="json", DB_PASSWORD="pw-never-logged-123",
                        PROGRESS_REDIS_PASSWORD="redis-never-logged-456")
    assert get_json(f"{server.http_url}/healthz")[0] == 200
    http("GET", f"{server.http_url}/clusters/")  # an access-log line (redirect to the login)
    assert server.stop() == 0
    text = server.log()
    lines = [line for line in text.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "replica", "message"} <= set(r) for r in records)
    assert all(r["replica"] == "ops-json" for r in records)
    banner = next(r for r in records if r.get("event") == "startup")
    assert banner["config"]["database.password"] == "set"
    assert banner["config"]["progress.redis.password"] == "set"
    assert banner["config"]["server.secret_key"] == "set"
    assert banner["config"]["log.format"] == "json"
    assert banner["sources"]["database.port"] == "env DB_PORT"
    assert "pw-never-logged-123" not in text and "redis-never-logged-456" not in text
    assert test_database_env["SECRET_KEY"] not in text
    access = [r for r in records if r["logger"] == "kubenode.access"]
    assert any(r["path"] == "/clusters/" and r["status"] == 302 for r in access)
    assert any(r.get("event") == "stopped" for r in records)


def test_text_logs_have_the_banner_on_one_line(app_server):
    server = app_server("ops-text", LOG_FORMAT="text", DB_PASSWORD="pw-never-logged-789")
    assert server.stop() == 0
    banner = [line for line in server.log().splitlines() if "kubenode starting" in line]
    assert len(banner) == 1
    assert "database.password=set" in banner[0] and "[ops-text]" in banner[0]
    assert "pw-never-logged-789" not in server.log()


def test_migrate_and_wait_migrations_through_the_entrypoint(test_database_env):
    done = run_entrypoint("migrate", env=test_database_env)
    assert done.returncode == 0, done.stderr
    assert "No migrations to apply" in done.stdout
    assert "superuser" in done.stdout  # created once, or said to exist already
    again = run_entrypoint("migrate", env=test_database_env)
    assert "a superuser exists already" in again.stdout
    waited = run_entrypoint("wait-migrations", env=test_database_env)
    assert waited.returncode == 0, waited.stderr


def test_wait_migrations_gives_up_with_a_clear_message(test_database_env):
    from tests.fixtures.services import free_port

    env = {**test_database_env, "DB_PORT": str(free_port()), "MIGRATE_WAIT_TIMEOUT": "0"}
    done = run_entrypoint("wait-migrations", env=env)
    assert done.returncode == 1
    assert "migrations still not applied" in done.stderr


def test_entrypoint_refuses_an_unknown_command(test_database_env):
    done = run_entrypoint("bogus", env=test_database_env)
    assert done.returncode == 64 and "usage: entrypoint.sh" in done.stderr


def test_readyz_in_process_reports_shutdown_and_a_degraded_notifier(client):
    from kubenode import runtime

    response = client.get("/readyz")
    assert response.status_code == 200 and "notifier" in response.json()
    runtime.begin_shutdown()
    try:
        response = client.get("/readyz")
    finally:
        runtime.reset_shutdown()
    assert response.status_code == 503 and response.json()["status"] == "shutting down"


def test_metrics_helpers_added_here_are_exposed(client):
    metrics.set_tasks_running(2)
    metrics.task_finished("interrupted")
    metrics.node_processed("drain", False)
    body = client.get("/metrics").content.decode()
    assert "kubenode_tasks_running 2.0" in body
    assert 'kubenode_tasks_total{status="interrupted"}' in body
    assert 'kubenode_nodes_processed_total{action="drain",outcome="failed"}' in body
    metrics.set_tasks_running(0)


def test_readyz_with_the_postgres_notifier(app_server):
    server = app_server("ops-pg", PROGRESS_NOTIFY_TYPE="postgres")
    status, body = get_json(f"{server.http_url}/readyz")
    assert status == 200
    assert body["notifier"]["requested"] == "postgres"


def test_readyz_stays_ready_but_degraded_when_the_notifier_falls_back(app_server):
    from tests.fixtures.services import free_port

    server = app_server("ops-fallback", PROGRESS_NOTIFY_TYPE="redis", PROGRESS_REDIS_ADDR=f"127.0.0.1:{free_port()}")
    deadline = time.monotonic() + 60
    while True:  # the notifier finds out in the background that Redis does not answer
        status, body = get_json(f"{server.http_url}/readyz")
        if body["notifier"].get("fallback") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200
    assert body["status"] == "degraded"
    assert body["notifier"]["requested"] == "redis" and body["notifier"]["fallback"] is True
    assert body["notifier"]["effective"] == "polling" and body["notifier"]["why"]


def test_readyz_answers_when_the_database_hangs(app_server, test_database_env):
    """A database that accepts connections and never answers (a frozen route): every probe still gets an answer,
    503 with the reason, well within a kubelet's probe timeout; liveness stays 200; ready again once it answers."""
    from tests.ops.conftest import wait_for
    from tests.replicas.tcp_proxy import TcpProxy

    proxy = TcpProxy((test_database_env["DB_HOST"], int(test_database_env["DB_PORT"]))).start()
    try:
        server = app_server("ops-hang", DB_PORT=str(proxy.port))
        assert get_json(f"{server.http_url}/readyz")[0] == 200
        proxy.hang()
        for _ in range(3):  # probe after probe, each answered (the HTTP client gives up after 10 s)
            status, body = get_json(f"{server.http_url}/readyz")
            assert status == 503 and body["status"] == "unavailable", body
            assert body["checks"]["database"]["ok"] is False and body["checks"]["database"]["error"]
        assert get_json(f"{server.http_url}/healthz") == (200, {"status": "ok"})
        proxy.resume()
        wait_for(lambda: get_json(f"{server.http_url}/readyz")[0] == 200, "ready again", timeout=60)
    finally:
        proxy.stop()


def test_worker_readyz_answers_when_the_database_hangs_and_the_worker_works_again_after(
        kube_sim, worker_processes, test_database_env):
    """A worker whose database accepts connections and never answers: each /readyz still answers 503 with the
    reason well within a kubelet's probe timeout, /healthz stays 200 (no restart for an outage); when the database
    comes back (its hung connections reset, as after a restart) the worker is ready again and runs a new batch."""
    from nodes import batches
    from nodes.roles import ensure_groups
    from nodes.services import import_cluster
    from progress.models import ProgressTask, TaskStatus
    from tests.ops.conftest import wait_for
    from tests.progress.helpers import make_user
    from tests.replicas.tcp_proxy import TcpProxy

    ensure_groups()
    cluster = import_cluster("sim", kube_sim(nodes=4, latency_ms=1).kubeconfig_text, simulated=True)
    ann = make_user("ann", role="operator")
    proxy = TcpProxy((test_database_env["DB_HOST"], int(test_database_env["DB_PORT"]))).start()
    try:
        worker = worker_processes("w-hang", lease=3, DB_HOST="127.0.0.1", DB_PORT=str(proxy.port))
        wait_for(lambda: worker.readyz()[0] == 200, "the worker ready")
        proxy.hang()
        for _ in range(3):  # probe after probe, each answered (the worker's check gives up after 2 s)
            started = time.monotonic()
            status, body = worker.readyz()
            assert time.monotonic() - started < 5
            assert status == 503 and body["status"] == "unavailable", body
            assert body["checks"]["database"]["ok"] is False and body["checks"]["database"]["error"]
        assert worker.get("/healthz")[0] == 200
        assert worker.process.poll() is None
        proxy.resume(cut=True)
        wait_for(lambda: worker.readyz()[0] == 200, "the worker ready again", timeout=60)
        task = batches.start_batch(ann, cluster, "label", {"set": {"after": "outage"}}, all_nodes=True)
        wait_for(lambda: ProgressTask.objects.get(pk=task.pk).is_finished, "the batch after the outage", timeout=60)
        task.refresh_from_db()
        assert (task.status, task.succeeded, task.owner) == (TaskStatus.SUCCEEDED, 4, "w-hang")
        assert worker.stop() == 0  # while its database is still reachable through the proxy
    finally:
        proxy.stop()
