"""The application started exactly as the container starts it: scripts/entrypoint.sh."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.daphne import Replica, launch
from tests.fixtures.services import free_port

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "scripts" / "entrypoint.sh"


def entrypoint_env(env: dict) -> dict:
    full = {**os.environ, "PYTHON": sys.executable, "PYTHONUNBUFFERED": "1",
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}", **env}
    if "KUBENODE_CONFIG" not in env:  # the developer's own config file never leaks in
        full.pop("KUBENODE_CONFIG", None)
    full["DJANGO_SETTINGS_MODULE"] = "kubenode.settings"
    return full


def run_entrypoint(*args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(ENTRYPOINT), *args], cwd=ROOT, env=entrypoint_env(env), capture_output=True,
                          text=True, timeout=timeout)


def start_server(name: str, env: dict, log_dir: Path) -> Replica:
    port = free_port()
    full_env = entrypoint_env({"KUBENODE_REPLICA_ID": name, "BIND": "127.0.0.1", "PORT": str(port), **env})
    return launch(name, [str(ENTRYPOINT), "serve"], full_env, log_dir, port, f"entrypoint.sh serve ({name})")


def wait_for(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def http(method: str, url: str, timeout: float = 10) -> tuple[int, str, dict]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def get_json(url: str) -> tuple[int, dict]:
    status, body, _ = http("GET", url)
    return status, json.loads(body)


@pytest.fixture
def app_server(tmp_path, test_database_env):
    """Factory: start `scripts/entrypoint.sh serve` on the test database (env overrides welcome)."""
    started: list[Replica] = []

    def start(name: str = "ops-web", **env) -> Replica:
        server = start_server(name, {**test_database_env, "ALLOWED_HOSTS": "127.0.0.1,localhost",
                                     "PROGRESS_NOTIFY_TYPE": "memory", **env}, tmp_path)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
