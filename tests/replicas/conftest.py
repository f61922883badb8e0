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


def collect(ws, task_id: str, timeout: float = 240, on_frame=None) -> list[dict]:
    """Every frame of `task_id` until its final message (asserting no frame of another task arrives)."""
    from tests.progress.test_live_daphne import FINAL, recv

    frames = []
    deadline = time.monotonic() + timeout
    while not frames or frames[-1]["type"] not in FINAL:
        frame = recv(ws, timeout=max(1, deadline - time.monotonic()))
        if frame.get("type") in ("snapshot", "protocol_error"):
            continue
        assert frame["task"] == task_id, frame
        frames.append(frame)
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


@pytest.fixture
def throwaway_redis(tmp_path):
    """A Redis server of this test's own, on a free port, that the test may stop."""
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    import socket

    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)
    yield port, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)


@pytest.fixture
def redis_sentinel(throwaway_redis, tmp_path):
    """A Redis Sentinel (its own process) watching the throw-away Redis as master "mymaster"; yields its port."""
    redis_port, _ = throwaway_redis
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
                    f"sentinel monitor mymaster 127.0.0.1 {redis_port} 1\n")
    proc = subprocess.Popen(["redis-server", str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        out = subprocess.run(["redis-cli", "-p", str(port), "sentinel", "get-master-addr-by-name", "mymaster"],
                             capture_output=True, text=True)
        if out.stdout.split() == ["127.0.0.1", str(redis_port)]:
            break
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"sentinel did not start: {out.stdout} {out.stderr}")
        time.sleep(0.1)
    yield port
    proc.kill()
    proc.wait(5)


def manage(*args, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    full = {**os.environ, **env, "DJANGO_SETTINGS_MODULE": "kubenode.settings"}
    full.pop("KUBENODE_CONFIG", None)
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=timeout)
