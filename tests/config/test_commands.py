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
    result = run(["manage.py", "check"], {"SECRET_KEY": "x" * 40, "DB_PORT": "not-a-port"})
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
    env = {"SECRET_KEY": "x" * 40, "DATABASE_URL": "postgres://u:p@url-host:5439/urldb",
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
    env = {"SECRET_KEY": "x" * 40, "DB_TYPE": "postgres", "DB_HOST": db["HOST"], "DB_PORT": str(db["PORT"]),
           "DB_NAME": "postgres", "DB_USER": db["USER"], "KUBENODE_REPLICA_ID": "pool-check"}
    result = run(["-c", code], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["kubenode:pool-check", str(db["PORT"])]
