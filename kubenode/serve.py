"""Serve kubenode with daphne, as the container does (``scripts/entrypoint.sh serve``).

    python -m kubenode.serve [--bind 0.0.0.0] [--port 8000]

The same daphne server as the ``daphne`` command, plus what a pod needs:

- a start-up banner of the effective configuration (secrets shown only as set / not set) and of the mode: on
  PostgreSQL a web process never runs batches (``progress_worker`` does); on SQLite (the embedded default) this
  process runs them too, with its own worker threads;
- a graceful SIGTERM (and SIGINT): this replica at once reports not ready (``/readyz`` 503) and refuses new
  batches with a clear message; in the embedded mode its node operations get ``server.shutdown_grace`` seconds
  (``SHUTDOWN_GRACE``) to finish and what is left stays queued for the next start; the notifier and its listener
  are closed; the process exits 0.

Twisted (daphne's reactor) catches SIGTERM and stops the reactor; a "before shutdown" trigger returns a Deferred
that fires when :func:`graceful_shutdown` (run in a thread) is done, so the reactor keeps serving — probes answer
503, submissions are refused — until then.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time

from kubenode import runtime

log = logging.getLogger("kubenode.serve")

_shutdown_lock = threading.Lock()
_shutdown_done = threading.Event()


def graceful_shutdown(grace_seconds: float | None = None) -> None:
    """Not ready, no new batches; stop this process's worker threads (embedded mode) within the grace; close the
    notifier. Safe to call more than once (the second call waits for the first)."""
    from django.conf import settings
    from django.db import close_old_connections

    from progress import embedded

    with _shutdown_lock:
        if _shutdown_done.is_set():
            return
        runtime.begin_shutdown()
        grace = float(settings.CONFIG["server.shutdown_grace"] if grace_seconds is None else grace_seconds)
        started = time.monotonic()
        worker = embedded.running()
        in_flight = worker.in_flight if worker is not None else 0
        log.info("shutdown: not ready, no new batches; %s node operation(s) in flight get %.1fs to finish",
                 in_flight, grace, extra={"event": "shutdown_started", "in_flight": in_flight,
                                          "grace_seconds": grace})
        try:
            embedded.stop(grace)
        except Exception:  # noqa: BLE001 - the notifier must still be closed
            log.exception("shutdown: the worker threads did not stop cleanly")
        _close_notifier()
        close_old_connections()
        _shutdown_done.set()
        log.info("shutdown: done in %.1fs", time.monotonic() - started,
                 extra={"event": "shutdown_done", "seconds": round(time.monotonic() - started, 3)})


def _close_notifier() -> None:
    try:
        from progress.notify import get_notifier

        notifier = get_notifier()
        close = getattr(notifier, "close", None)
        if callable(close):
            close()
            log.info("shutdown: notifier closed")
    except Exception:  # noqa: BLE001 - shutting down anyway
        log.exception("shutdown: closing the notifier failed")


def banner() -> None:
    """One log line with the effective configuration; secrets only as set / not set."""
    from django.conf import settings

    from kubenode.logs import config_banner

    config_banner(settings.CONFIG)


class _AccessLog:
    """daphne's action logger, through Python logging (so LOG_FORMAT=json applies): one line per request.
    Probes and scrapes are logged at DEBUG."""

    QUIET = ("/healthz", "/readyz", "/metrics")
    logger = logging.getLogger("kubenode.access")

    def __call__(self, protocol, action, details):
        if protocol == "http" and action == "complete":
            path = details.get("path", "")
            bare = path.split("?", 1)[0]
            level = logging.DEBUG if bare in self.QUIET else logging.INFO
            self.logger.log(level, "%s %s %s", details.get("method"), path, details.get("status"),
                            extra={"event": "http", "method": details.get("method"), "path": path,
                                   "status": details.get("status"), "size": details.get("size"),
                                   "client": (details.get("client") or "").rsplit(":", 1)[0],
                                   "seconds": round(float(details.get("time_taken") or 0), 4)})
        elif protocol == "websocket" and action in ("connected", "disconnected"):
            self.logger.info("websocket %s %s", action, details.get("path", ""),
                             extra={"event": f"websocket_{action}", "path": details.get("path", "")})


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m kubenode.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default=os.environ.get("BIND", "0.0.0.0"), help="address (env BIND)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")), help="port (env PORT)")
    parser.add_argument("--proxy-headers", action="store_true", default=os.environ.get("PROXY_HEADERS") == "1",
                        help="trust X-Forwarded-For/-Proto from the ingress (env PROXY_HEADERS=1)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # daphne.server first: it installs the asyncio reactor Twisted must use.
    from daphne.endpoints import build_endpoint_description_strings
    from daphne.server import Server
    from twisted.internet import reactor, threads

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kubenode.settings")
    logging.captureWarnings(True)  # Python warnings become log lines too (JSON with LOG_FORMAT=json)
    from kubenode.asgi import application  # django.setup(): settings and logging

    banner()
    server = Server(
        application=application,
        endpoints=build_endpoint_description_strings(host=args.bind, port=args.port),
        action_logger=_AccessLog(),
        verbosity=1,
        proxy_forwarded_address_header="X-Forwarded-For" if args.proxy_headers else None,
        proxy_forwarded_port_header="X-Forwarded-Port" if args.proxy_headers else None,
        proxy_forwarded_proto_header="X-Forwarded-Proto" if args.proxy_headers else None,
        server_name="kubenode",
    )

    def before_shutdown():
        log.info("shutdown: signal received", extra={"event": "signal"})
        return threads.deferToThread(graceful_shutdown)

    reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)
    log.info("serving on %s:%s", args.bind, args.port, extra={"event": "listening", "bind": args.bind,
                                                                "port": args.port})
    server.run()
    if server.abort_start:
        log.error("could not listen on %s:%s", args.bind, args.port)
        return 1
    log.info("stopped", extra={"event": "stopped"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
