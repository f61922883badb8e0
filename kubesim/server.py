"""Start the simulated API server: generate the cluster, start the controllers, serve HTTP, write kubeconfigs."""

import base64
import logging
import os
import threading
import time
from http.server import ThreadingHTTPServer

import yaml

from .api import Api
from .auth import Tokens
from .controllers import Controllers
from .generator import generate
from .handler import Faults, InFlight, make_handler
from .store import Store

log = logging.getLogger("kubenode.sim")


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    stopping = False


class Simulator:
    def __init__(self, *, nodes=50, port=0, seed=0, latency_ms=0, fail_rate=0.0, conflict_rate=0.0,
                 grace_cap=1.0, activity=False, eviction_version="v1", admin_token=None, viewer_token=None,
                 nobody_token=None, tls=False, metrics=True, anonymous_admin=False):
        started = time.monotonic()
        self.store = Store()
        self.summary = generate(self.store, nodes=nodes, seed=seed)
        self.store.compact()
        self.api = Api(self.store, grace_cap=grace_cap)
        self.controllers = Controllers(self.api, seed=seed, activity=activity)
        self.controllers.start()
        self.tokens = Tokens(admin_token, viewer_token, nobody_token)
        if anonymous_admin:  # plain HTTP for kubectl, which sends no credentials there: no authentication at all
            self.tokens.anonymous = "admin"
        self.faults = Faults(latency_ms, fail_rate, conflict_rate, seed)
        self.in_flight = InFlight()
        handler = make_handler(self.api, self.tokens, self.faults, eviction_version, self.in_flight,
                               serve_metrics=metrics)
        self.httpd = SimServer(("127.0.0.1", port), handler)
        self.port = self.httpd.server_address[1]
        self.cert_pem = None
        if tls:
            from .tls import self_signed, server_context

            self.cert_pem, key_pem = self_signed()
            self.httpd.socket = server_context(self.cert_pem, key_pem).wrap_socket(self.httpd.socket,
                                                                                   server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.startup_seconds = time.monotonic() - started
        self._thread = None

    def serve_forever(self):
        self.httpd.serve_forever(poll_interval=0.2)

    def start_background(self):
        self._thread = threading.Thread(target=self.serve_forever, name="sim-http", daemon=True)
        self._thread.start()
        return self

    def shutdown(self):
        self.httpd.stopping = True
        self.controllers.stop()
        self.httpd.shutdown()
        self.httpd.server_close()

    def kubeconfig(self, *, only: str | None = None, cluster_name="kubenode-sim") -> dict:
        """Admin (current context) and viewer; with only="viewer" or only="nobody", that user alone."""
        users = [(only, getattr(self.tokens, only))] if only else [("admin", self.tokens.admin),
                                                                  ("viewer", self.tokens.viewer)]
        if self.tokens.anonymous and not self.cert_pem:
            users = [("admin", self.tokens.admin)]  # plain HTTP: kubectl sends no token, so there is no viewer
        contexts = [{"name": cluster_name if user == "admin" else user,
                     "context": {"cluster": cluster_name, "user": f"{cluster_name}-{user}"}} for user, _ in users]
        return {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": cluster_name, "cluster": self._cluster_entry()}],
            "users": [{"name": f"{cluster_name}-{user}", "user": self._credentials(user, token)}
                      for user, token in users],
            "contexts": contexts,
            "current-context": contexts[0]["name"],
        }

    def _credentials(self, user: str, token: str) -> dict:
        if user == self.tokens.anonymous and not self.cert_pem:
            return {}  # kubectl sends no token over plain HTTP: the admin is whoever asks
        return {"token": token}

    def _cluster_entry(self) -> dict:
        entry = {"server": self.url}
        if self.cert_pem:
            entry["certificate-authority-data"] = base64.b64encode(self.cert_pem).decode()
        return entry

    def write_kubeconfig(self, path: str, **kwargs):
        """Write atomically with mode 0600 (it holds tokens)."""
        tmp = f"{path}.tmp{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(self.kubeconfig(**kwargs), fh, sort_keys=False)
        os.replace(tmp, path)
