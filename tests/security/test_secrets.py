"""No secret on any page, in any log line or error: the configuration's repr, URLs with credentials, exec plugins,
key rotation, weak keys, the first superuser's password, the production checks."""

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, RequestFactory

from nodes import crypto, services
from nodes.kube import client as kube_client
from tests.progress.helpers import override_config

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"database.password": "db-pw-Zq81-secret", "progress.redis.password": "redis-pw-Yx27-secret",
           "server.secret_key_fallbacks": ["old-key-Wv55-" + "w" * 40]}


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_django_technical_500_page_shows_no_secret(settings):
    from django.views.debug import technical_500_response

    override_config(settings, SECRETS)
    settings.DATABASES = {**settings.DATABASES, "default": {**settings.DATABASES["default"],
                                                            "PASSWORD": SECRETS["database.password"]}}
    settings.SECRET_KEY_FALLBACKS = SECRETS["server.secret_key_fallbacks"]
    settings.DEBUG = True
    request = RequestFactory().get("/boom/")
    config = settings.CONFIG
    try:
        raise RuntimeError(f"failed with {config!r}")  # a repr in a message, and CONFIG in the frame's locals
    except RuntimeError:
        response = technical_500_response(request, *sys.exc_info())
    page = response.content.decode()
    assert "RuntimeError" in page and "CONFIG" in page  # the page is the full technical page
    for secret in (settings.SECRET_KEY, SECRETS["database.password"], SECRETS["progress.redis.password"],
                   SECRETS["server.secret_key_fallbacks"][0]):
        assert secret not in page
    text = repr(config) + str(config.values) + repr(config.values["database.password"])
    assert SECRETS["database.password"] not in text and SECRETS["progress.redis.password"] not in text


def _kubeconfig_with_server(sim, server: str) -> str:
    doc = yaml.safe_load(sim.kubeconfig_text)
    for item in doc["clusters"]:
        item["cluster"]["server"] = server
    return yaml.safe_dump(doc)


def test_credentials_in_a_server_url_are_never_shown_or_logged(shared_sim, users, caplog):
    from urllib.parse import urlsplit

    url = urlsplit(shared_sim.url)
    secret = "url-pw-Tt93"
    text = _kubeconfig_with_server(shared_sim, f"{url.scheme}://alice:{secret}@{url.netloc}")
    cluster = services.import_cluster("withpw", text, simulated=True)
    assert secret not in cluster.server and "alice" not in cluster.server
    assert secret not in _client(users["viewer"]).get("/clusters/").content.decode()
    assert secret not in _client(users["admin"]).get("/clusters/").content.decode()
    dead = services.import_cluster("deadpw", _kubeconfig_with_server(shared_sim, f"http://bob:{secret}@127.0.0.1:9"))
    result = services.check_cluster(dead)
    assert not result.ok and secret not in result.message and "127.0.0.1:9" in result.message
    assert secret not in caplog.text


def _exec_kubeconfig(sim, command: str, args=()) -> str:
    doc = yaml.safe_load(sim.kubeconfig_text)
    for item in doc["users"]:
        item["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": command,
                                 "args": list(args), "interactionMode": "Never"}}
    return yaml.safe_dump(doc)


def _plugin(tmp_path: Path, token: str, sleep: float = 0) -> Path:
    marker = tmp_path / "plugin-ran"
    script = tmp_path / "kube-token-plugin"
    script.write_text(f"""#!/bin/sh
touch {marker}
sleep {sleep}
echo '{{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {{"token": "{token}"}}}}'
""")
    script.chmod(0o755)
    return script


def test_exec_plugins_are_refused_unless_allowed(shared_sim, settings, tmp_path, users):
    script = _plugin(tmp_path, shared_sim.admin_token)
    text = _exec_kubeconfig(shared_sim, str(script))
    with pytest.raises(ValidationError) as exc:
        services.import_cluster("execd", text, simulated=True)
    assert "clusters.allowed_exec_commands" in exc.value.messages[0] and str(script) in exc.value.messages[0]
    assert not (tmp_path / "plugin-ran").exists(), "the refused command never ran"
    override_config(settings, {"clusters.allowed_exec_commands": [str(script)]})
    cluster = services.import_cluster("execd", text, simulated=True)
    assert (tmp_path / "plugin-ran").exists()
    assert services.check_cluster(cluster).ok
    # taken off the list later: the cluster's check says why it cannot be used, and nothing runs
    (tmp_path / "plugin-ran").unlink()
    override_config(settings, {"clusters.allowed_exec_commands": []})
    kube_client.clear_cache()
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("cluster_check", "execd", stdout=out, stderr=out)
    assert "clusters.allowed_exec_commands" in out.getvalue()
    assert not (tmp_path / "plugin-ran").exists()


def test_an_allowed_exec_plugin_runs_with_a_timeout(shared_sim, settings, tmp_path):
    script = _plugin(tmp_path, shared_sim.admin_token, sleep=30)
    override_config(settings, {"clusters.allowed_exec_commands": [str(script)], "clusters.exec_timeout": 1.0})
    with pytest.raises(ValidationError, match="did not answer within 1 s"):
        services.import_cluster("slow", _exec_kubeconfig(shared_sim, str(script)), simulated=True)


def test_key_rotation_with_fallbacks_and_cluster_reencrypt(shared_sim, settings):
    cluster = services.import_cluster("rotated", shared_sim.kubeconfig_text, simulated=True)
    old_key, new_key = settings.SECRET_KEY, "new-key-" + "n" * 50
    settings.SECRET_KEY = new_key
    with pytest.raises(crypto.DecryptionError, match="SECRET_KEY_FALLBACKS"):
        crypto.decrypt(cluster.kubeconfig_encrypted)
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert crypto.decrypt(cluster.kubeconfig_encrypted) == shared_sim.kubeconfig_text
    out = io.StringIO()
    call_command("cluster_reencrypt", stdout=out)
    assert "re-encrypted 1 cluster(s): rotated" in out.getvalue()
    cluster.refresh_from_db()
    settings.SECRET_KEY_FALLBACKS = []
    assert crypto.decrypt(cluster.kubeconfig_encrypted) == shared_sim.kubeconfig_text
    kube_client.clear_cache()
    assert services.check_cluster(cluster).ok


def _manage(args, **env):
    full = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "SECRET_KEY", "DEBUG", "KUBENODE_"))}
    full.update({"DJANGO_SETTINGS_MODULE": "kubenode.settings", "DB_TYPE": "sqlite", **env})
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("key, why", [
    ("short-key", "is 9 characters long: use at least 50"),
    ("example-only-replace-me-example-only-replace-me-example-only", "is the example from deploy/"),
])
def test_a_weak_secret_key_stops_start_up_outside_debug(key, why, tmp_path):
    done = _manage(["check"], SECRET_KEY=key, KUBENODE_DATA_DIR=str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"kubenode: configuration error: server.secret_key (env SECRET_KEY) "
                                                f"{why}" + done.stderr.strip().split(why, 1)[1]]
    assert key not in done.stderr
    assert _manage(["check"], SECRET_KEY=key, DEBUG="true", KUBENODE_DATA_DIR=str(tmp_path)).returncode == 0


def test_the_first_superuser_password_is_never_printed_off_a_terminal(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    out = io.StringIO()
    call_command("ensure_superuser", stdout=out)
    path = tmp_path / "initial-superuser-password"
    password = path.read_text().strip()
    assert password and password not in out.getvalue() and str(path) in out.getvalue()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert get_user_model().objects.get(username="admin").check_password(password)


def test_the_first_superuser_password_from_a_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBENODE_SUPERUSER_PASSWORD", "from-a-secret-Pp42")
    out = io.StringIO()
    call_command("ensure_superuser", "--username", "root", stdout=out)
    assert "from-a-secret-Pp42" not in out.getvalue()
    assert get_user_model().objects.get(username="root").check_password("from-a-secret-Pp42")


def test_check_deploy_is_clean_with_the_production_manifests(tmp_path):
    from tests.ops.test_manifests import env_of, find, render

    docs = render("base")
    workload = find(docs, "Deployment", "kubenode-web")
    env = {k: v for k, v in env_of(docs, workload, "web").items() if not v.startswith("<from")}
    config_file = tmp_path / "config.yaml"
    config_file.write_text(find(docs, "ConfigMap", "kubenode-config")["data"]["config.yaml"])
    env.update(KUBENODE_CONFIG=str(config_file), SECRET_KEY="p" * 20 + "roduction-Key-0123456789-abcdefghijk",
               ALLOWED_HOSTS=env.get("ALLOWED_HOSTS", "").replace("$(POD_IP)", "10.0.0.7"),
               KUBENODE_DATA_DIR=str(tmp_path))
    done = _manage(["check", "--deploy", "--fail-level", "WARNING"], **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_pages_carry_a_content_security_policy(users):
    response = _client(users["viewer"]).get("/clusters/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response["X-Content-Type-Options"] == "nosniff"
