"""Run batches: claim queued tasks and run their node operations (the worker role).

    python manage.py progress_worker [--concurrency N] [--once] [--health-port P]

SIGTERM (or Ctrl-C): stop claiming, let the node operations in flight finish within ``worker.shutdown_grace``,
record them, hand the rest back to the queue (another worker continues it), exit 0.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from kubenode import runtime
from kubenode.logs import config_banner
from progress.health import HealthServer
from progress.worker import Worker

log = logging.getLogger("kubenode.progress.worker")


class Command(BaseCommand):
    help = ("Run batches: claim queued tasks from the database and run their node operations; SIGTERM finishes "
            "the operations in flight, hands the rest back and exits 0.")

    def add_arguments(self, parser):
        parser.add_argument("--concurrency", type=int, default=None,
                            help="node operations at once in this process (default worker.concurrency)")
        parser.add_argument("--once", action="store_true",
                            help="run what is queued now, then exit (0 when every result was recorded)")
        parser.add_argument("--health-port", type=int, default=None,
                            help="port of /healthz, /readyz and /metrics (default worker.health_port; 0: none)")

    def handle(self, *args, **opts):
        config = settings.CONFIG
        if config.database_type != "postgres":
            raise CommandError("on SQLite the web process runs the batches itself (the embedded default: make run); "
                               "separate workers need PostgreSQL (DB_TYPE=postgres)", returncode=2)
        concurrency = opts["concurrency"] if opts["concurrency"] is not None else config["worker.concurrency"]
        if concurrency < 1:
            raise CommandError("--concurrency must be at least 1", returncode=2)
        port = opts["health_port"] if opts["health_port"] is not None else config["worker.health_port"]
        if not 0 <= port <= 65535:
            raise CommandError("--health-port must be between 0 and 65535", returncode=2)
        runtime.set_role("worker")
        config_banner(config)
        log.info("mode: worker: this process runs batches (node operations) and serves no pages",
                 extra={"event": "mode", "mode": "worker"})
        worker = Worker(concurrency=concurrency)
        health = None
        if port:
            try:
                health = HealthServer(worker, port).start()
            except OSError as exc:
                raise CommandError(f"cannot listen on port {port} for /healthz: {exc.strerror}", returncode=2) from None
        stop = threading.Event()

        def on_signal(signum, frame):
            if not runtime.shutting_down():
                log.info("worker: %s received: no new work; finishing what runs", signal.Signals(signum).name,
                         extra={"event": "signal"})
            runtime.begin_shutdown()
            worker.request_stop()
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        grace = float(config["worker.shutdown_grace"])
        try:
            if opts["once"]:
                clean = worker.run_until_idle(grace)
            else:
                worker.start()
                while not stop.wait(1.0):
                    pass
                clean = worker.shutdown(grace)
        finally:
            if health is not None:
                health.stop()
        sys.exit(0 if clean else 1)
