"""What `manage.py kube_sim --kubeconfig F` writes works with the stock kubectl as written (issue: it used to
write a bearer token over plain HTTP, which kubectl never sends: "You must be logged in to the server")."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fixtures.services import free_port

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
DOC = (ROOT / "docs" / "simulator.md").read_text()


def start(tmp_path, *args) -> tuple[subprocess.Popen, Path]:
    kubeconfig = tmp_path / "sim.kubeconfig"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "kubenode.settings", "DEBUG": "1"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "kube_sim", "--nodes", "6", "--port",
                             str(free_port()), "--kubeconfig", str(kubeconfig), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()  # "kube_sim serving URL: ..." once it listens
    assert line.startswith("kube_sim serving"), line + proc.stdout.read()
    return proc, kubeconfig


def kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "HTTPS_PROXY", "HTTP_PROXY")}
    return subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True,
                          timeout=60, env=env)


@pytest.fixture
def sim(tmp_path):
    started = []

    def run(*args):
        proc, kubeconfig = start(tmp_path, *args)
        started.append(proc)
        return kubeconfig

    yield run
    for proc in started:
        proc.terminate()
        proc.wait(15)


def test_the_documented_kubectl_commands_work_with_the_default_kubeconfig(sim):
    kubeconfig = sim()
    doc = yaml.safe_load(kubeconfig.read_text())
    assert doc["clusters"][0]["cluster"]["server"].startswith("https://")
    commands = re.findall(r"^    kubectl --kubeconfig var/sim\.kubeconfig (.+)$", DOC, re.M)
    assert len(commands) >= 3, "docs/simulator.md shows the kubectl commands"
    for command in commands:
        result = kubectl(kubeconfig, *command.split())
        assert result.returncode == 0, (command, result.stdout + result.stderr)
        assert "You must be logged in" not in result.stderr
    nodes = kubectl(kubeconfig, "get", "nodes", "-o", "name").stdout.split()
    assert len(nodes) == 6
    # the viewer context is really the viewer: it may read, not write
    denied = kubectl(kubeconfig, "--context", "viewer", "label", "node", "worker-0001", "x=y")
    assert denied.returncode != 0 and 'User "viewer" cannot patch resource "nodes"' in denied.stderr


def test_plain_http_writes_no_token_and_kubectl_still_works(sim, tmp_path):
    kubeconfig = sim("--plain-http")
    doc = yaml.safe_load(kubeconfig.read_text())
    assert doc["clusters"][0]["cluster"]["server"].startswith("http://")
    assert all("token" not in user["user"] for user in doc["users"])
    result = kubectl(kubeconfig, "--context", "kubenode-sim", "get", "nodes", "-o", "name")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) == 6
    assert kubectl(kubeconfig, "label", "node", "worker-0001", "checked=yes").returncode == 0


def test_plain_http_refuses_the_token_only_kubeconfigs(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "manage.py"), "kube_sim", "--plain-http", "--kubeconfig",
                             str(tmp_path / "k"), "--viewer-kubeconfig", str(tmp_path / "v")], cwd=ROOT,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "kubenode.settings", "DEBUG": "1"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "need TLS (kubectl sends tokens only over TLS" in result.stderr
    assert not (tmp_path / "k").exists()
