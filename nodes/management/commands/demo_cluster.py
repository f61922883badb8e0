"""The simulated "demo" cluster of `make run`.

--check-needed exits 0 when no real (non-simulated) cluster is configured, so the demo should start, else 1.
--kubeconfig PATH --wait N waits up to N s for the simulator to answer, then registers it as "demo".
"""

import sys
import time
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from nodes import services
from nodes.kube import KubeError
from nodes.kube import client as kube_client
from nodes.models import Cluster

DEMO_NAME = "demo"


class Command(BaseCommand):
    help = "Decide whether the demo cluster is needed, or register the running simulator as cluster 'demo'."

    def add_arguments(self, parser):
        parser.add_argument("--check-needed", action="store_true",
                            help="exit 0 when no non-simulated cluster is configured, 1 otherwise")
        parser.add_argument("--kubeconfig", help="the simulator's kubeconfig")
        parser.add_argument("--context", help="context to use (default: the current context)")
        parser.add_argument("--wait", type=float, default=15, help="seconds to wait for the simulator")

    def handle(self, *args, **opts):
        if opts["check_needed"]:
            real = Cluster.objects.filter(simulated=False).count()
            if real:
                self.stdout.write(f"{real} cluster(s) configured: the demo cluster is not started")
                sys.exit(1)
            return
        if not opts["kubeconfig"]:
            raise CommandError("give --kubeconfig PATH (or --check-needed)")
        path = Path(opts["kubeconfig"])
        deadline = time.monotonic() + max(0.0, opts["wait"])
        last = "the kubeconfig was not written"
        while True:
            if path.exists():
                try:
                    text = path.read_text()
                    doc = services.parse_kubeconfig(text)
                    context, _ = services.resolve_context(doc, opts["context"])
                    kube_client.from_kubeconfig(text, context).get("/version")
                    cluster = services.import_cluster(DEMO_NAME, text, context=context, simulated=True)
                    result = services.check_cluster(cluster)  # the clusters page shows a real last check
                    self.stdout.write(f"cluster {cluster.name} registered (simulated, {cluster.server}); "
                                      f"check: {result.message}")
                    return
                except (ValidationError, KubeError, OSError) as exc:
                    last = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            if time.monotonic() >= deadline:
                raise CommandError(f"the simulator did not answer within {opts['wait']:g}s: {last}")
            time.sleep(0.2)
