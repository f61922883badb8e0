"""The configuration as processes see it: start-up errors, config_show, settings.DATABASES."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"DB_PASSWORD": "pw-very-secret-1", "PROGRESS_REDIS_PASSWORD": "redis-secret-2",
           "SECRET_KEY": "django-secret-key-3-" + "k" * 30}


def run(args, env, **kwargs):
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("DB_", "DATABASE_", "PROGRESS_", "KUBENODE_", "SECRET_KEY", "DEBUG"))}
    clean.update({"DJANGO_SETTINGS_MODULE": "kubenode.settings", **env})
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=clean, capture_output=True, text=True,
                          timeout=60, **kwargs)


def test_invalid_value_stops_startup_with_one_line_and_no_traceback():
    result = run(["manage.py", "check"], {"SECRET_KEY": "x" * 50, "DB_PORT": "not-a-port"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "kubenode: configuration error: database.port: 'not-a-port' from env DB_PORT is not a port number"]
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_secret_key_without_debug_stops_startup():
    result = run(["manage.py", "check"], {})
    assert result.returncode == 2
    assert "server.secret_key: not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_show_prints_sources_and_never_a_secret(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text('database:\n  type: postgres\n  host: from-file\n  password: "${DB_PASSWORD}"\n')
    env = {**SECRETS, "KUBENODE_CONFIG": str(config), "DB_PORT": "5433"}
    text = run(["manage.py", "config_show"], env)
    assert text.returncode == 0, text.stderr
    as_json = run(["manage.py", "config_show", "--json"], env)
    assert as_json.returncode == 0, as_json.stderr
    for output in (text.stdout + text.stderr, as_json.stdout + as_json.stderr):
        for secret in SECRETS.values():
            assert secret not in output
    rows = {row["key"]: row for row in json.loads(as_json.stdout)["settings"]}
    assert rows["database.host"] == {"key": "database.host", "value": "from-file",
                                     "source": f"file {config}: database.host", "secret": False}
    assert rows["database.port"]["source"] == "env DB_PORT"
    assert rows["database.password"]["value"] == "set"
    assert rows["progress.redis.password"]["value"] == "set"
    assert rows["server.secret_key"]["value"] == "set"
    assert rows["database.ssl_mode"]["source"] == "default"
    assert "database.host" in text.stdout and f"[file {config}: database.host]" in text.stdout


def test_django_databases_come_from_the_resolved_configuration():
    code = ("import json, kubenode.settings as s; d = s.DATABASES['default']; "
            "print(json.dumps({k: d[k] for k in ('ENGINE','NAME','HOST','PORT','USER')} | "
            "{'sslmode': d['OPTIONS']['sslmode'], 'app': d['OPTIONS']['application_name'], "
            "'pool': d['OPTIONS']['pool']}))")
    env = {"SECRET_KEY": "x" * 50, "DATABASE_URL": "postgres://u:p@url-host:5439/urldb",
           "DB_HOST": "db-host", "DB_SSLMODE": "require", "DB_MAX_OPEN_CONNS": "7",
           "DB_MAX_IDLE_CONNS": "2", "DB_MAX_LIFETIME": "2m", "KUBENODE_REPLICA_ID": "r1"}
    result = run(["-c", code], env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "ENGINE": "django.db.backends.postgresql", "NAME": "urldb", "HOST": "db-host", "PORT": "5439",
        "USER": "u", "sslmode": "require", "app": "kubenode:r1",
        "pool": {"min_size": 2, "max_size": 7, "max_lifetime": 120.0, "timeout": 10}}


def test_pooled_django_connection_reaches_the_configured_postgresql(settings):
    """The production settings (with the connection pool) talk to the PostgreSQL they were given."""
    db = settings.DATABASES["default"]
    code = ("import django; django.setup(); from django.db import connection; "
            "c = connection.cursor(); c.execute('SELECT current_setting(%s), inet_server_port()', "
            "['application_name']); print(*c.fetchone())")
    env = {"SECRET_KEY": "x" * 50, "DB_TYPE": "postgres", "DB_HOST": db["HOST"], "DB_PORT": str(db["PORT"]),
           "DB_NAME": "postgres", "DB_USER": db["USER"], "KUBENODE_REPLICA_ID": "pool-check"}
    result = run(["-c", code], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["kubenode:pool-check", str(db["PORT"])]


def test_config_show_says_the_type_was_inferred_and_lists_unknown_names(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("progress:\n  redis:\n    enabled: false\n")
    env = {"SECRET_KEY": "x" * 50, "DB_HOST": "pg.example", "DB_DATABASE": "kube_node_manager",
           "PROGRESS_REDIS_ENABLED": "false", "KUBENODE_CONFIG": str(config)}
    text = run(["manage.py", "config_show"], env)
    assert text.returncode == 0, text.stderr
    assert "database.type" in text.stdout and "postgres  [inferred from DB_HOST]" in text.stdout
    assert "warning: unknown environment variable PROGRESS_REDIS_ENABLED is ignored" in text.stdout
    assert f"warning: unknown key progress.redis.enabled in config file {config} is ignored" in text.stdout
    doc = json.loads(run(["manage.py", "config_show", "--json"], env).stdout)
    assert len(doc["warnings"]) == 2 and doc["config_file_source"] == "KUBENODE_CONFIG"
    rows = {row["key"]: row for row in doc["settings"]}
    assert (rows["database.type"]["value"], rows["database.type"]["source"]) == ("postgres", "inferred from DB_HOST")


def test_sqlite_with_a_host_stops_startup_with_one_line():
    result = run(["manage.py", "check"], {"SECRET_KEY": "x" * 50, "DB_TYPE": "sqlite", "DB_HOST": "pg.example"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "kubenode: configuration error: database.type: 'sqlite' from env DB_TYPE cannot be used with database.host "
        "from env DB_HOST (a PostgreSQL setting): set database.type to postgres, or remove the PostgreSQL settings"]


def test_config_file_in_the_working_directory_is_read_and_named(tmp_path):
    (tmp_path / "configs").mkdir()
    found = tmp_path / "configs" / "config.yaml"
    found.write_text("database:\n  type: sqlite\nprogress:\n  poll_interval: 250\n")
    result = subprocess.run([sys.executable, str(ROOT / "manage.py"), "config_show"], cwd=tmp_path, text=True,
                            capture_output=True, timeout=60,
                            env={**{k: v for k, v in os.environ.items() if not k.startswith(
                                ("DB_", "DATABASE_", "PROGRESS_", "KUBENODE_"))},
                                 "SECRET_KEY": "x" * 50, "DJANGO_SETTINGS_MODULE": "kubenode.settings",
                                 "KUBENODE_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert (f"config file: {found} (found at configs/config.yaml (KUBENODE_CONFIG not set))"
            in result.stdout.splitlines())
    assert f"250  [file {found}: progress.poll_interval]" in result.stdout


def test_notifier_check_refuses_the_memory_notifier_where_several_processes_are_meant(test_database_env):
    pg = run(["manage.py", "notifier_check"], {**test_database_env, "PROGRESS_NOTIFY_TYPE": "memory"})
    assert pg.returncode == 1, pg.stdout + pg.stderr
    assert "healthy:     no" in pg.stdout and "verified end to end" not in pg.stdout
    assert "reaches only the process that rings it, but database.type is postgres (env DB_TYPE)" in pg.stderr
    on_purpose = run(["manage.py", "notifier_check", "--json"],
                     {"SECRET_KEY": "x" * 50, "PROGRESS_ENABLE_DATABASE": "true", "DB_TYPE": "sqlite"})
    assert on_purpose.returncode == 1
    assert "progress.enable_database is true (env PROGRESS_ENABLE_DATABASE)" in json.loads(on_purpose.stdout)["error"]
    alone = run(["manage.py", "notifier_check"], {"SECRET_KEY": "x" * 50})  # the embedded default: one process
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert "memory: verified end to end" in alone.stdout


def test_the_banner_names_the_file_found_and_warns_about_unknown_keys(tmp_path, test_database_env):
    import time

    from tests.fixtures.services import free_port

    db = test_database_env
    (tmp_path / "configs").mkdir()
    found = tmp_path / "configs" / "config.yaml"
    found.write_text(f"database:\n  host: {db['DB_HOST']}\n  port: {db['DB_PORT']}\n  database: {db['DB_NAME']}\n"
                     f"  username: {db['DB_USER']}\nprogress:\n  notify_type: polling\n  redis:\n    enabled: false\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("DB_", "DATABASE_", "PROGRESS_", "KUBENODE_"))},
           "SECRET_KEY": "x" * 50, "DJANGO_SETTINGS_MODULE": "kubenode.settings", "PYTHONPATH": str(ROOT),
           "PYTHONUNBUFFERED": "1", "KUBENODE_REPLICA_ID": "banner"}
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "kubenode.serve", "--bind", "127.0.0.1", "--port",
                                 str(free_port())], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "configuration: unknown key" not in log_path.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(30)
    lines = log_path.read_text().splitlines()
    banner = next(line for line in lines if "kubenode starting" in line)
    assert f"config file={found} (found at configs/config.yaml (KUBENODE_CONFIG not set))" in banner
    assert f"database.type=postgres [inferred from file {found}: database.host]" in banner
    warning = next(line for line in lines if "configuration: unknown key" in line)
    assert " WARNING " in warning and f"progress.redis.enabled in config file {found} is ignored" in warning
