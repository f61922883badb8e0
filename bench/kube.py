"""Start the simulated Kubernetes API server (``manage.py kube_sim``) for a benchmark, and drive kubectl."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, Unavailable, require_paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Unavailable(f"kube_sim exited with {process.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise Unavailable(f"kube_sim did not listen on {port} within {timeout}s")


@dataclass
class Sim:
    port: int
    kubeconfig: Path
    process: subprocess.Popen
    workdir: tempfile.TemporaryDirectory

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.workdir.cleanup()

    def __enter__(self) -> Sim:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def kubectl(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
                              capture_output=True, text=True, timeout=600)
        if check and done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()[:300]}")
        return done.stdout

    def node_names(self) -> list[str]:
        data = json.loads(self.kubectl("get", "nodes", "-o", "json"))
        return [item["metadata"]["name"] for item in data["items"]]


def start_sim(nodes: int, latency_ms: int = 0, extra: tuple[str, ...] = (), env: dict | None = None) -> Sim:
    require_paths("kubesim/management/commands/kube_sim.py")
    workdir = tempfile.TemporaryDirectory(prefix="kubenode-bench-sim-")
    kubeconfig = Path(workdir.name) / "kubeconfig"
    port = free_port()
    log = open(Path(workdir.name) / "sim.log", "wb")  # noqa: SIM115 - closed with the process
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "kubenode.settings", **(env or {})}
    full_env.setdefault("SECRET_KEY", "bench-only-not-secret-" + "b" * 40)
    cmd = [sys.executable, "manage.py", "kube_sim", "--nodes", str(nodes), "--port", str(port),
           "--kubeconfig", str(kubeconfig), "--latency-ms", str(latency_ms), "--tls", *extra]
    process = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    sim = Sim(port, kubeconfig, process, workdir)
    try:
        wait_for_port(port, process)
        deadline = time.monotonic() + 30
        while not kubeconfig.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if not kubeconfig.exists():
            raise Unavailable("kube_sim wrote no kubeconfig")
    except Unavailable as exc:
        tail = (Path(workdir.name) / "sim.log").read_text(errors="replace")[-400:]
        sim.stop()
        raise Unavailable(f"{exc}: {tail.strip()}") from None
    return sim
