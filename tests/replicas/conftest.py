"""Fixtures for tests with several real daphne replicas on one database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.daphne import launch
from tests.fixtures.services import free_port

ROOT = Path(__file__).resolve().parents[2]
NODES = 1000


@pytest.fixture
def big_cluster(kube_sim, transactional_db):
    """A 1,000-node simulated cluster (10 % of PATCHes fail), two operators, imported as cluster "sim"."""
    from nodes.roles import ensure_groups
    from nodes.services import import_cluster
    from tests.progress.test_live_daphne import _user

    ensure_groups()
    sim = kube_sim(nodes=NODES, latency_ms=3, fail_rate=0.1, seed=11)
    cluster = import_cluster("sim", sim.kubeconfig_text, simulated=True)
    _user("ann", "operator")
    _user("bob", "operator")
    return cluster


@pytest.fixture
def small_cluster(kube_sim, transactional_db):
    """A 120-node simulated cluster (20 ms per request), one operator, imported as cluster "sim"."""
    from nodes.roles import ensure_groups
    from nodes.services import import_cluster
    from tests.progress.test_live_daphne import _user

    ensure_groups()
    sim = kube_sim(nodes=120, latency_ms=20, seed=3)
    cluster = import_cluster("sim", sim.kubeconfig_text, simulated=True)
    _user("ann", "operator")
    return cluster


def readyz(replica) -> dict:
    try:
        with urllib.request.urlopen(f"{replica.http_url}/readyz", timeout=10) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as exc:
        return json.load(exc)


def wait_for_notifier(replica, predicate, timeout: float = 40) -> dict:
    deadline = time.monotonic() + timeout
    state = {}
    while time.monotonic() < deadline:
        state = readyz(replica).get("notifier", {})
        if predicate(state):
            return state
        time.sleep(0.2)
    raise AssertionError(f"replica {replica.name}: notifier never reached the expected state: {state}\n"
                         f"{replica.log()[-3000:]}")


def wait_for_log(replica, pattern: str, timeout: float = 40) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = replica.log()
        if re.search(pattern, log):
            return log
        time.sleep(0.2)
    raise AssertionError(f"replica {replica.name}: {pattern!r} never logged\n{replica.log()[-3000:]}")


def start_batch(client, cluster, nodes: list[str], concurrency: int = 4) -> str:
    """POST the label action on replica `client` talks to; returns the task id."""
    resp = client.post(f"/clusters/{cluster.name}/nodes/action/",
                       [("action", "label"), ("set", "wave=one"), *[("node", n) for n in nodes],
                        ("concurrency", str(concurrency)), ("confirm", "yes")])
    return re.search(r"[?&]task=([0-9a-f-]{36})", resp.geturl()).group(1)


def collect(ws, task_id: str, timeout: float = 240, on_frame=None, arrivals: list | None = None) -> list[dict]:
    """Every message of `task_id` until its final one. Every frame must be a list of that task's messages: a
    protocol error, a snapshot (sent only at connect, already read) or another task's message fails the test.
    `arrivals` (optional) gets (wall time, message) for each message as its frame arrives."""
    from tests.progress.test_live_daphne import FINAL, recv

    frames = []
    deadline = time.monotonic() + timeout
    while not frames or frames[-1]["type"] not in FINAL:
        frame = recv(ws, timeout=max(1, deadline - time.monotonic()))
        at = time.time()
        assert isinstance(frame, list) and frame, f"expected a list of messages of task {task_id}, got {frame!r}"
        for message in frame:
            assert message["task"] == task_id, message
            frames.append(message)
            if arrivals is not None:
                arrivals.append((at, message))
            if on_frame is not None:
                on_frame(frames)
    return frames


def assert_every_message_once(frames: list[dict], task_id: str) -> None:
    from progress.models import ProgressTask

    task = ProgressTask.objects.get(pk=task_id)
    seqs = [f["seq"] for f in frames]
    assert seqs == list(range(1, task.last_seq + 1)), "lost, repeated or out-of-order messages"
    final = frames[-1]
    assert final["type"] == "complete" and task.is_finished
    assert (final["done"], final["succeeded"], final["failed"]) == (task.total, task.succeeded, task.failed)
    failed = {f["node"] for f in frames if f["type"] == "progress" and f["outcome"] == "failed"}
    assert {f["node"] for f in final["detail"]["failed_nodes"]} == failed and len(failed) == task.failed > 0
    assert len([f for f in frames if f["type"] == "progress"]) == task.total


def manage(*args, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    full = {**os.environ, **env, "DJANGO_SETTINGS_MODULE": "kubenode.settings"}
    full.pop("KUBENODE_CONFIG", None)
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def standalone_listeners(tmp_path, test_database_env):
    """Factory: start `manage.py progress_listen` (progress.listener=standalone) processes on the test database;
    each is returned as a Replica whose http_url is its health port. All stopped afterwards."""
    started = []

    def start(name: str, **env):
        port = free_port()
        full = {**os.environ, **test_database_env, "PROGRESS_LISTENER": "standalone", "KUBENODE_REPLICA_ID": name,
                "PROGRESS_LISTENER_HEALTH_PORT": str(port), "PYTHONUNBUFFERED": "1", **env,
                "DJANGO_SETTINGS_MODULE": "kubenode.settings"}
        full.pop("KUBENODE_CONFIG", None)
        listener = launch(name, [sys.executable, str(ROOT / "manage.py"), "progress_listen"], full, tmp_path, port,
                          f"progress_listen {name}")
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()


def scrape(process) -> dict[str, float]:
    """The Prometheus text of a process's /metrics as {'name{labels}': value}."""
    base = getattr(process, "health_url", None) or process.http_url  # a worker's health port, or a web's port
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def message_times(task_id: str) -> dict[int, float]:
    """When each message row of a task was written (wall clock of the writing process), by seq."""
    from progress.models import ProgressMessage

    return {seq: at.timestamp() for seq, at in
            ProgressMessage.objects.filter(task_id=task_id).values_list("seq", "created_at")}


def assert_realtime(arrivals: list, task_id: str, bound_s: float) -> float:
    """Every message reached the client within bound_s of its row being written; returns the slowest."""
    written = message_times(task_id)
    delays = {m["seq"]: at - written[m["seq"]] for at, m in arrivals}
    slowest = max(delays.values())
    late = {seq: round(d, 3) for seq, d in delays.items() if d > bound_s}
    assert not late, f"{len(late)} of {len(delays)} messages later than {bound_s} s: {dict(list(late.items())[:10])}"
    return slowest
