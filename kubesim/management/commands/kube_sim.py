"""Serve a simulated Kubernetes API (nodes, pods, eviction, PDBs) on 127.0.0.1 and write a kubeconfig for it.

What it writes works with stock kubectl as written: HTTPS by default (a throw-away self-signed certificate, its CA in
the kubeconfig, bearer tokens), or with --plain-http no token at all (kubectl sends none over plain HTTP) and every
request acts as the admin.
"""

import argparse
import signal
import sys

from django.core.management.base import BaseCommand, CommandError

from kubesim.server import Simulator


def _fraction(text):
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError("must be between 0 and 1")
    return value


class Command(BaseCommand):
    help = ("Serve a simulated Kubernetes API server over HTTPS on 127.0.0.1 and write a kubeconfig for it that "
            "kubectl and kubenode use as written.")

    def add_arguments(self, parser):
        parser.add_argument("--nodes", type=int, default=50, help="number of nodes (3 are control-plane)")
        parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
        parser.add_argument("--kubeconfig", required=True, help="where to write the kubeconfig (admin + viewer)")
        parser.add_argument("--viewer-kubeconfig", default="", help="also write a kubeconfig with only the viewer")
        parser.add_argument("--nobody-kubeconfig", default="",
                            help="also write a kubeconfig with only a user that may do nothing (403 on every resource)")
        parser.add_argument("--latency-ms", type=float, default=0, help="delay every request by this much")
        parser.add_argument("--fail-rate", type=_fraction, default=0.0,
                            help="fraction of writes answered with 500 InternalError")
        parser.add_argument("--conflict-rate", type=_fraction, default=0.0,
                            help="fraction of node writes answered with 409 Conflict")
        parser.add_argument("--seed", type=int, default=0, help="seed of the generated cluster and the faults")
        parser.add_argument("--grace-cap", type=float, default=1.0,
                            help="terminating pods vanish after min(grace period, this many seconds)")
        parser.add_argument("--eviction-version", choices=("v1", "v1beta1"), default="v1",
                            help="policy version announced for pods/eviction in discovery")
        parser.add_argument("--tls", action="store_true",
                            help="serve HTTPS with a throw-away self-signed certificate (the default; kept for old "
                                 "scripts)")
        parser.add_argument("--plain-http", action="store_true",
                            help="serve plain HTTP without authentication: every request acts as the admin and the "
                                 "kubeconfig carries no token (kubectl sends tokens only over TLS)")
        # The test harness's Python clients: plain HTTP *with* tokens, which the official Python client sends and
        # kubectl does not (kubectl cannot use what this writes). Not for people.
        parser.add_argument("--plain-http-with-tokens", action="store_true", help=argparse.SUPPRESS)
        parser.add_argument("--simulate-activity", action="store_true",
                            help="now and then a worker turns NotReady and recovers")
        parser.add_argument("--no-metrics", action="store_true",
                            help="do not serve the resource metrics API (metrics.k8s.io), as a cluster without "
                                 "metrics-server")
        parser.add_argument("--admin-token", default=None, help=argparse.SUPPRESS)
        parser.add_argument("--viewer-token", default=None, help=argparse.SUPPRESS)
        parser.add_argument("--nobody-token", default=None, help=argparse.SUPPRESS)

    def handle(self, *args, **opts):
        if opts["nodes"] < 1:
            raise CommandError("--nodes must be at least 1")
        if opts["latency_ms"] < 0 or opts["grace_cap"] < 0:
            raise CommandError("--latency-ms and --grace-cap must not be negative")
        if opts["plain_http"] and opts["tls"]:
            raise CommandError("--plain-http and --tls exclude each other")
        if opts["plain_http"] and (opts["viewer_kubeconfig"] or opts["nobody_kubeconfig"]):
            raise CommandError("--viewer-kubeconfig and --nobody-kubeconfig need TLS (kubectl sends tokens only over "
                               "TLS, so over plain HTTP every request is the admin): drop --plain-http")
        plain = opts["plain_http"] or opts["plain_http_with_tokens"]
        try:
            sim = Simulator(nodes=opts["nodes"], port=opts["port"], seed=opts["seed"], latency_ms=opts["latency_ms"],
                            fail_rate=opts["fail_rate"], conflict_rate=opts["conflict_rate"],
                            grace_cap=opts["grace_cap"], activity=opts["simulate_activity"],
                            eviction_version=opts["eviction_version"], admin_token=opts["admin_token"],
                            viewer_token=opts["viewer_token"], nobody_token=opts["nobody_token"],
                            tls=not plain, metrics=not opts["no_metrics"], anonymous_admin=opts["plain_http"])
        except OSError as exc:
            raise CommandError(f"cannot listen on 127.0.0.1:{opts['port']}: {exc.strerror}") from None
        sim.write_kubeconfig(opts["kubeconfig"])
        if opts["viewer_kubeconfig"]:
            sim.write_kubeconfig(opts["viewer_kubeconfig"], only="viewer")
        if opts["nobody_kubeconfig"]:
            sim.write_kubeconfig(opts["nobody_kubeconfig"], only="nobody")
        s = sim.summary
        self.stdout.write(f"kube_sim serving {sim.url}: {opts['nodes']} nodes ({len(s['gpu'])} GPU, "
                          f"{len(s['not_ready'])} NotReady), {s['pods']} pods, built in {sim.startup_seconds:.2f}s; "
                          f"kubeconfig {opts['kubeconfig']}")
        self.stdout.flush()

        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            sim.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            sim.httpd.stopping = True
            sim.controllers.stop()
            sim.httpd.server_close()
        sys.stdout.flush()

