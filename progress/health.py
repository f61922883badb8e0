"""The worker's small HTTP server: /healthz (alive), /readyz (working), /metrics (Prometheus), on
`worker.health_port`.

- /healthz: 200 while the worker's threads run (a database outage does not restart the pod).
- /readyz: 200 {"status": "ok", ...} when the database answers within 2 s and the lease is current; 503 while
  shutting down, when the database does not answer, or when the lease lapsed.
- /metrics: this process's metrics (tasks, node operations, Kubernetes API errors, flushes, claims, wake-ups).
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
from django.db import connection
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kubenode import runtime

from .wake import side_connection_params

log = logging.getLogger("kubenode.progress.health")

DATABASE_CHECK_TIMEOUT_S = 2


def database_check() -> dict:
    """SELECT 1 on a fresh connection with a short connect and statement timeout (a hung database is reported
    within a probe's timeout, not waited for)."""
    try:
        if connection.vendor != "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return {"ok": True}
        params = side_connection_params("probe")
        params["connect_timeout"] = DATABASE_CHECK_TIMEOUT_S
        params["options"] = f"-c statement_timeout={DATABASE_CHECK_TIMEOUT_S * 1000}"
        with psycopg.connect(**params, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return {"ok": False, "error": f"{exc.__class__.__name__}: {' '.join(str(exc).split())[:200]}"}
    finally:
        if connection.vendor != "postgresql":
            connection.close()


class HealthServer:
    def __init__(self, worker, port: int, bind: str = "0.0.0.0"):
        self.worker = worker
        self.port = port
        self.bind = bind
        self.httpd: ThreadingHTTPServer | None = None

    def start(self) -> HealthServer:
        worker = self.worker

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    alive = worker.alive()
                    self._json(200 if alive else 503, {"status": "ok" if alive else "threads stopped"})
                elif path == "/readyz":
                    self._ready()
                elif path == "/metrics":
                    body = generate_latest()
                    self.send_response(200)
                    self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self._json(404, {"error": "not found"})

            def _ready(self):
                state = worker.status()
                if runtime.shutting_down() or state["stopping"]:
                    self._json(503, {"status": "shutting down", "worker": state})
                    return
                database = database_check()
                ok = database["ok"] and state["lease_ok"]
                self._json(200 if ok else 503, {"status": "ok" if ok else "unavailable",
                                                "checks": {"database": database}, "worker": state})

            def _json(self, code: int, data: dict):
                body = json.dumps(data).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):  # noqa: A002 - http.server's signature
                log.debug("health %s", format % args)

        self.httpd = ThreadingHTTPServer((self.bind, self.port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, name="kubenode-health", daemon=True).start()
        log.info("worker health on %s:%s (/healthz, /readyz, /metrics)", self.bind, self.port,
                 extra={"event": "health_listening", "port": self.port})
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
