"""Check clusters: reachability, server version, authentication and what the credentials may do."""

import json

from django.core.management.base import BaseCommand, CommandError

from nodes import services
from nodes.models import Cluster


class Command(BaseCommand):
    help = "Check one cluster (or all): reachable, version, auth, may patch nodes / create pods/eviction."

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help="cluster name (default: every cluster)")
        parser.add_argument("--json", action="store_true", help="print one JSON object per cluster")

    def handle(self, *args, **opts):
        clusters = Cluster.objects.all()
        if opts["name"]:
            clusters = clusters.filter(name=opts["name"])
            if not clusters:
                raise CommandError(f"no cluster named {opts['name']!r}")
        elif not clusters:
            raise CommandError("no cluster is configured (use cluster_import)")
        failed = 0
        for cluster in clusters:
            result = services.check_cluster(cluster)
            failed += not result.ok
            if opts["json"]:
                self.stdout.write(json.dumps(result.as_dict()))
            else:
                self.stdout.write(f"{cluster.name} ({cluster.server}): {'OK' if result.ok else 'FAILED'} — "
                                  f"{result.message}")
        if failed:
            raise CommandError(f"{failed} cluster(s) failed the check")
