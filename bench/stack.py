"""A kubenode stack for the benchmarks: a migrated throw-away database, a user with a session, real daphne replicas
and worker processes.

Replicas are started the way tests/fixtures/daphne.py starts them (``python -m daphne … kubenode.asgi:application``);
workers as production starts them (``python manage.py progress_worker``), each with its health port, ready once it
listens. On PostgreSQL a web process never runs batches: a benchmark that starts one needs ``stack.worker(...)``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import PG_HOST, PG_PORT, PG_USER, REDIS_ADDR, ROOT, Unavailable, throwaway_database
from bench.kube import free_port, wait_for_port

SECRET = "bench-only-secret-key-not-used-anywhere-else-0123456789"
BENCH_USER = "bench"


def db_env(dbname: str, notify_type: str = "postgres", **extra: str) -> dict:
    env = {
        "DB_TYPE": "postgres", "DB_HOST": PG_HOST, "DB_PORT": str(PG_PORT), "DB_NAME": dbname, "DB_USER": PG_USER,
        "DB_PASSWORD": "", "SECRET_KEY": SECRET, "PROGRESS_NOTIFY_TYPE": notify_type,
        "PROGRESS_REDIS_ADDR": REDIS_ADDR, "PROGRESS_REDIS_DB": os.environ.get("BENCH_REDIS_DB", "9"),
        "DJANGO_SETTINGS_MODULE": "kubenode.settings", "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return env


def manage(env: dict, *args: str, timeout: float = 300, stdin: str | None = None) -> str:
    full = {**os.environ, **env}
    full.pop("KUBENODE_CONFIG", None)
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full, capture_output=True,
                          text=True, timeout=timeout, input=stdin)
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args[:2])} failed ({done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-600:]}")
    return done.stdout


SETUP_USER = f"""
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.auth import SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY
User = get_user_model()
user, _ = User.objects.get_or_create(username="{BENCH_USER}", defaults={{"is_staff": True}})
user.set_password("bench-password"); user.is_staff = True; user.save()
s = SessionStore()
s[SESSION_KEY] = str(user.pk)
s[BACKEND_SESSION_KEY] = "accounts.backends.LocalBackend"
s[HASH_SESSION_KEY] = user.get_session_auth_hash()
s.create()
print("SESSION", s.session_key, user.pk)
"""


@dataclass
class Replica:
    name: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/progress/"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class WorkerProcess:
    name: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def stop(self, timeout: float = 60) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Stack:
    dbname: str
    workdir: Path
    session_key: str = ""
    user_id: int = 0
    replicas: list[Replica] = field(default_factory=list)
    workers: list[WorkerProcess] = field(default_factory=list)

    def env(self, notify_type: str = "postgres", **extra: str) -> dict:
        return db_env(self.dbname, notify_type, **extra)

    def replica(self, name: str, notify_type: str, app: str = "bench.asgi_app:application", **extra: str) -> Replica:
        port = free_port()
        env = {**os.environ, **self.env(notify_type, KUBENODE_REPLICA_ID=name, **extra)}
        env.pop("KUBENODE_CONFIG", None)
        log_path = self.workdir / f"{name}.log"
        log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        replica = Replica(name, port, process, log_path)
        self.replicas.append(replica)
        try:
            wait_for_port(port, process, timeout=60)
        except Unavailable as exc:
            raise Unavailable(f"daphne {name}: {exc}: {replica.log()[-400:]}") from None
        return replica

    def stop_replicas(self) -> None:
        for replica in self.replicas:
            replica.stop()
        self.replicas.clear()
        self.stop_workers()

    def worker(self, name: str, notify_type: str = "postgres", concurrency: int | None = None,
               **extra: str) -> WorkerProcess:
        """Start ``manage.py progress_worker`` on the stack's database; returns once its health port listens."""
        port = free_port()
        env = {**os.environ, **self.env(notify_type, KUBENODE_REPLICA_ID=name, WORKER_HEALTH_PORT=str(port),
                                         **extra)}
        env.pop("KUBENODE_CONFIG", None)
        argv = [sys.executable, "manage.py", "progress_worker"]
        if concurrency:
            argv += ["--concurrency", str(concurrency)]
        log_path = self.workdir / f"{name}.log"
        log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        worker = WorkerProcess(name, port, process, log_path)
        self.workers.append(worker)
        try:
            wait_for_port(port, process, timeout=60)
        except Unavailable as exc:
            raise Unavailable(f"progress_worker {name}: {exc}: {worker.log()[-400:]}") from None
        return worker

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers.clear()

    @property
    def cookie(self) -> str:
        return f"sessionid={self.session_key}"


@contextlib.contextmanager
def kubenode_stack(tag: str) -> Iterator[Stack]:
    with throwaway_database(tag) as dbname, tempfile.TemporaryDirectory(prefix=f"kubenode-bench-{tag}-") as tmp:
        stack = Stack(dbname, Path(tmp))
        env = stack.env()
        manage(env, "migrate", "--noinput")
        out = manage(env, "shell", "-c", SETUP_USER)
        line = next(x for x in out.splitlines() if x.startswith("SESSION "))
        _, stack.session_key, user_id = line.split()
        stack.user_id = int(user_id)
        try:
            yield stack
        finally:
            stack.stop_replicas()
            time.sleep(0.2)
