"""docs/migrating.md, for operators coming from kube-node-manager: kubenode started with exactly the environment of
that system's StatefulSet (its host pointed at this machine's PostgreSQL), and every shell command of the page run.

Commands run as the page says to run them inside a pod: the part after `kubectl … exec … --` runs here (the image's
/app is this checkout); `kubectl logs … | grep …` greps the logs of real replicas; `psql "host=… port=5432 …"`
runs against this machine's PostgreSQL; `kubectl … set image` runs against the simulated API server.
"""

import fcntl
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import yaml

from kubenode.config import KEYS_BY_NAME, load
from tests.fixtures.daphne import launch
from tests.fixtures.services import free_port
from tests.replicas.conftest import wait_for_log, wait_for_notifier

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "scripts" / "entrypoint.sh"
DOC = (ROOT / "docs" / "migrating.md").read_text()
GUIDE_HOST = "postgres-service.default.svc.cluster.local"
DATABASE = "kube_node_manager"
SECRET_KEY = "migrating-test-secret-key-" + "m" * 40
EXEC = "kubectl -n kubenode exec deploy/kubenode-web -- /app/scripts/entrypoint.sh "
LOGS = re.compile(r"^kubectl -n kubenode logs -l app\.kubernetes\.io/name=kubenode \| (grep .+)$")
PSQL = re.compile(r'^psql "host=postgres-service\.default\.svc\.cluster\.local port=5432 dbname=kube_node_manager '
                  r'user=postgres" -c "(.+)"$')
SET_IMAGE = re.compile(r"^kubectl -n kubenode set image deployment/kubenode-web web=(\S+)$")


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", DOC, re.M | re.S)


def shell_commands() -> list[str]:
    return [line for block in blocks("sh") for line in block.splitlines() if line.strip()]


def statefulset_env() -> dict[str, str]:
    """The guide's StatefulSet environment as docs/migrating.md shows it (the Secret's value filled in)."""
    env = {}
    for item in yaml.safe_load(blocks("yaml")[0])["env"]:
        env[item["name"]] = item["value"] if "value" in item else "password-from-postgres-secret"
    return env


def clean_environment() -> dict[str, str]:
    """This machine's environment without any of kubenode's settings (the test suite sets several)."""
    drop = ("DB_", "DATABASE_", "PROGRESS_", "KUBENODE_", "SECRET_KEY", "DEBUG", "LOG_", "ALLOWED_HOSTS",
            "POD_NAME", "WORKER_", "BATCH_", "SHUTDOWN_GRACE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update({"PYTHON": sys.executable, "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "kubenode.settings",
                "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"})
    return env


@pytest.fixture
def pg_server(settings):
    db = settings.DATABASES["default"]
    return db["HOST"], str(db["PORT"]), db["USER"]


@pytest.fixture
def guide_database(pg_server, tmp_path):
    """The database the guide names, on this machine's PostgreSQL (one test at a time uses it)."""
    host, port, user = pg_server
    with open("/tmp/kubenode-kube_node_manager.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")  # a fresh one, as on first install
            conn.execute(f"CREATE DATABASE {DATABASE}")
        try:
            yield
        finally:
            with psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def kubenode_env(pg_server) -> dict[str, str]:
    """Exactly the StatefulSet's variables, DB_HOST (and the port) pointed here; plus SECRET_KEY, which the page
    says to add, and the pod name Kubernetes gives a StatefulSet's first pod."""
    host, port, _ = pg_server
    env = statefulset_env()
    assert env["DB_HOST"] == GUIDE_HOST
    env.update({"DB_HOST": host, "DB_PORT": port})
    return {**clean_environment(), **env, "SECRET_KEY": SECRET_KEY, "HOSTNAME": "kube-node-mgr-0"}


def run(argv: list[str], env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, **kwargs)


def serve(name: str, env: dict, tmp_path: Path):
    port = free_port()
    return launch(name, [str(ENTRYPOINT), "serve"], {**env, "BIND": "127.0.0.1", "PORT": str(port)}, tmp_path,
                  port, f"entrypoint.sh serve ({name})")


def test_the_guides_environment_is_documented_exactly():
    assert statefulset_env() == {"DB_HOST": GUIDE_HOST, "DB_PORT": "5432", "DB_USERNAME": "postgres",
                                 "DB_PASSWORD": "password-from-postgres-secret", "DB_DATABASE": DATABASE,
                                 "DB_SSL_MODE": "disable"}


def test_every_variable_and_key_of_theirs_maps_as_the_page_says():
    rows = re.findall(r"^\| (`[^|]+) \| (— ignored, with a warning|`[a-z_.]+`) \| ([^|]+) \|$", DOC, re.M)
    assert len(rows) >= 18
    seen = set()
    for theirs, ours, env_text in rows:
        names = re.findall(r"`([A-Za-z_.]+)`", theirs)
        for name in names:
            seen.add(name)
            if name.isupper():
                key = ours.strip("`") if not ours.startswith("—") else ""
                config = load({"SECRET_KEY": "k" * 40, name: str(_value_for(key))})
            else:
                config = load({"SECRET_KEY": "k" * 40, "KUBENODE_CONFIG": _file_with(name)})
            if ours.startswith("—"):
                assert any(name in warning and "is ignored" in warning for warning in config.warnings), name
                continue
            key = ours.strip("`")
            assert not config.warnings, (name, config.warnings)
            if name.isupper():
                assert config.source(key) == f"env {name}", name
            else:
                assert config.source(key).endswith(f": {key}"), name
        if not ours.startswith("—"):
            documented = [n for n in re.findall(r"`([A-Z_]+)`", env_text)]
            assert documented and set(documented) <= set(KEYS_BY_NAME[ours.strip("`")].env), ours
    # every variable of theirs from the reference list is in the table
    for name in ("DB_TYPE", "DATABASE_TYPE", "DB_HOST", "DATABASE_HOST", "DB_PORT", "DATABASE_PORT", "DB_DATABASE",
                 "DATABASE_DATABASE", "DB_NAME", "DATABASE_NAME", "DB_USERNAME", "DATABASE_USERNAME", "DB_USER",
                 "DATABASE_USER", "DB_PASSWORD", "DATABASE_PASSWORD", "DB_SSL_MODE", "DATABASE_SSL_MODE",
                 "DB_SSLMODE", "DATABASE_SSLMODE", "PROGRESS_ENABLE_DATABASE", "PROGRESS_NOTIFY_TYPE",
                 "PROGRESS_POLL_INTERVAL", "PROGRESS_REDIS_ENABLED", "PROGRESS_REDIS_ADDR", "PROGRESS_REDIS_PASSWORD",
                 "PROGRESS_REDIS_DB"):
        assert name in seen, name


_FILES: dict[str, str] = {}
VALUES = {"database.type": "postgres", "database.port": 5432, "database.ssl_mode": "disable",
          "progress.notify_type": "polling", "progress.enable_database": "true", "progress.redis.addr": "redis:6379",
          "progress.redis.sentinel_addrs": "s:26379", "progress.redis.enabled": "false",
          "database.max_lifetime": 3600}


def _value_for(dotted: str):
    return VALUES.get(dotted, 5 if dotted.endswith(("conns", "interval", ".db")) else "x")


def _file_with(dotted: str) -> str:
    """A config file setting `dotted` (to a value its key accepts)."""
    if dotted not in _FILES:
        import tempfile

        value = _value_for(dotted)
        doc: dict = {}
        node = doc
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        fd, path = tempfile.mkstemp(suffix=".yaml")
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(doc, fh)
        _FILES[dotted] = path
    return _FILES[dotted]


def test_started_with_the_statefulsets_environment_and_every_command_of_the_page(
        guide_database, pg_server, tmp_path, kube_sim):
    env = kubenode_env(pg_server)
    commands = shell_commands()
    assert commands[0] == EXEC + "migrate", "the page creates the tables first"
    migrated = run([str(ENTRYPOINT), *shlex.split(commands[0][len(EXEC):])], env)
    assert migrated.returncode == 0, migrated.stderr

    web = serve("kube-node-mgr-0", env, tmp_path)
    try:
        state = wait_for_notifier(web, lambda s: s.get("verified"), timeout=60)
        assert (state["requested"], state["effective"], state["fallback"]) == ("postgres", "postgres", False)
        log = wait_for_log(web, r"PostgreSQL listener connected, PostgreSQL notifier verified successfully")
        banner = next(line for line in log.splitlines() if "kubenode starting" in line)
        assert "database.type=postgres [inferred from DB_HOST]" in banner
        assert f"database.database={DATABASE} [env DB_DATABASE]" in banner
        assert "config file=(none: KUBENODE_CONFIG not set" in banner
        assert "configuration:" not in log  # no warning: every variable of theirs is read

        shown = run([str(ENTRYPOINT), "manage", "config_show", "--json"], env)
        assert shown.returncode == 0, shown.stderr
        report = json.loads(shown.stdout)
        rows = {row["key"]: row for row in report["settings"]}
        assert report["warnings"] == [] and report["config_file"] is None
        assert (rows["database.type"]["value"], rows["database.type"]["source"]) == ("postgres",
                                                                                     "inferred from DB_HOST")
        for key, name in (("database.host", "DB_HOST"), ("database.port", "DB_PORT"),
                          ("database.username", "DB_USERNAME"), ("database.password", "DB_PASSWORD"),
                          ("database.database", "DB_DATABASE"), ("database.ssl_mode", "DB_SSL_MODE")):
            assert rows[key]["source"] == f"env {name}", key
        assert rows["database.password"]["value"] == "set"
        assert (rows["progress.notify_type"]["value"], rows["progress.notify_type"]["source"]) == (
            "postgres", "default (database.type=postgres)")
        assert rows["server.replica_id"] == {"key": "server.replica_id", "value": "kube-node-mgr-0",
                                             "source": "env HOSTNAME", "secret": False}

        # a replica whose database does not answer, and one configured for polling: the log lines to grep for
        broken = serve("kube-node-mgr-1", {**env, "DB_PORT": str(free_port()), "HOSTNAME": "kube-node-mgr-1"},
                       tmp_path)
        polling = serve("kube-node-mgr-2", {**env, "PROGRESS_NOTIFY_TYPE": "polling", "HOSTNAME": "kube-node-mgr-2"},
                        tmp_path)
        try:
            wait_for_log(broken, r"falling back to polling")
            wait_for_log(polling, r"Using polling mode")
            logs = web.log() + broken.log() + polling.log()
        finally:
            broken.stop()
            polling.stop()

        ran = _run_every_command(commands, env, logs, pg_server, kube_sim)
        assert ran == len(commands)
    finally:
        web.stop()


def _run_every_command(commands: list[str], env: dict, logs: str, pg_server, kube_sim) -> int:
    host, port, _ = pg_server
    sim = None
    ran = 0
    for command in commands:
        if command.startswith(EXEC):
            result = run([str(ENTRYPOINT), *shlex.split(command[len(EXEC):])], env)
            assert result.returncode == 0, (command, result.stdout[-2000:], result.stderr[-2000:])
            if "notifier_check" in command:
                assert "postgres" in result.stdout and ('"healthy": true' in result.stdout
                                                        or "verified end to end" in result.stdout)
        elif match := LOGS.match(command):
            result = subprocess.run(["sh", "-c", match.group(1)], input=logs, capture_output=True, text=True,
                                    timeout=30)
            assert result.returncode == 0 and result.stdout.strip(), (command, "matched no line")
        elif match := PSQL.match(command):
            result = run(["psql", f"host={host} port={port} dbname={DATABASE} user=postgres", "-v",
                          "ON_ERROR_STOP=1", "-c", match.group(1)], env)
            assert result.returncode == 0, (command, result.stderr)
            if "LIKE '%listener%'" in command:
                assert "kubenode-listener:kube-node-mgr-0" in result.stdout, result.stdout
            if "LIKE 'kubenode%'" in command:
                assert "kubenode:kube-node-mgr-0" in result.stdout, result.stdout
        elif match := SET_IMAGE.match(command):
            sim = sim or kube_sim(nodes=3, tls=True)
            _deployment(sim)
            result = run(["kubectl", "--kubeconfig", sim.kubeconfig, *shlex.split(command)[1:]], env)
            assert result.returncode == 0, (command, result.stderr)
            image = run(["kubectl", "--kubeconfig", sim.kubeconfig, "-n", "kubenode", "get", "deployment",
                         "kubenode-web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"], env)
            assert image.stdout == match.group(1), image.stdout + image.stderr
        else:
            raise AssertionError(f"docs/migrating.md: no test runs {command!r}")
        ran += 1
    return ran


def _deployment(sim) -> None:
    """The namespace and the web Deployment of deploy/ (as far as `set image` needs them)."""
    manifest = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubenode"}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "kubenode-web", "namespace": "kubenode",
                      "labels": {"app.kubernetes.io/name": "kubenode", "app.kubernetes.io/component": "web"}},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app.kubernetes.io/component": "web"}},
                  "template": {"metadata": {"labels": {"app.kubernetes.io/component": "web"}},
                               "spec": {"containers": [{"name": "web", "image": "kubenode:1.0.0"}]}}}}]}
    # --validate=false: the simulator serves no OpenAPI document
    subprocess.run(["kubectl", "--kubeconfig", sim.kubeconfig, "create", "--validate=false", "-f", "-"],
                   input=json.dumps(manifest),
                   capture_output=True, text=True, timeout=60, check=True)


THEIR_CONFIG = """
database:
  type: "postgres"
  host: "postgres-service.default.svc.cluster.local"
  port: 5432
  database: "kube_node_manager"
  username: "postgres"
  password: "${DB_PASSWORD}"     # expanded from the environment
  ssl_mode: "disable"
  max_open_conns: 25             # 50 under high load
  max_idle_conns: 10             # 20 under high load
  max_lifetime: 3600             # seconds; 7200 under high load
progress:
  enable_database: true          # false = in-memory, single replica
  notify_type: "postgres"        # postgres | redis | polling
  poll_interval: 10000           # ms; the fallback/polling interval (500 and 200 in dev configs)
  redis:
    enabled: true
    addr: "localhost:6379"       # its design also shows "redis-sentinel:26379" here
    password: ""
    db: 0
    sentinel_addrs: ["sentinel-0:26379", "sentinel-1:26379"]
    sentinel_master_name: "mymaster"
"""


def test_their_config_file_is_read_as_it_is_from_configs(tmp_path, monkeypatch):
    """kube-node-manager's configs/config.yaml, unchanged, in the working directory: every key read, one warning."""
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "config.yaml").write_text(THEIR_CONFIG)
    monkeypatch.chdir(tmp_path)
    config = load({"SECRET_KEY": "k" * 40, "DB_PASSWORD": "from-the-secret"})
    path = str(tmp_path / "configs" / "config.yaml")
    assert config.config_file == path and config.config_file_source.startswith("found at configs/config.yaml")
    assert (config.database_type, config["database.host"], config["database.database"]) == (
        "postgres", GUIDE_HOST, DATABASE)
    assert (config["database.password"], config["database.max_lifetime"], config["database.max_idle_conns"]) == (
        "from-the-secret", 3600.0, 10)
    assert (config.notify_type, config["progress.poll_interval"]) == ("postgres", 10000)
    assert config["progress.redis.sentinel_addrs"] == ["sentinel-0:26379", "sentinel-1:26379"]
    assert config.source("database.host") == f"file {path}: database.host"
    assert config.warnings == (f"unknown key progress.redis.enabled in config file {path} is ignored (Redis is used "
                               f"exactly when progress.notify_type is redis); nearest known key: progress.notify_type",)
