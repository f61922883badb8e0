"""Import a cluster (one context, or every context) from a kubeconfig file; stored encrypted."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from nodes import services


class Command(BaseCommand):
    help = "Import a cluster from a kubeconfig file (stored encrypted). Use --all-contexts to import every context."

    def add_arguments(self, parser):
        parser.add_argument("path", help="kubeconfig file ('-' reads standard input)")
        parser.add_argument("--name", help="cluster name (default: the context name)")
        parser.add_argument("--context", help="context to import (default: the current context)")
        parser.add_argument("--all-contexts", action="store_true", help="import every context, named after it")
        parser.add_argument("--simulated", action="store_true", help="mark the cluster as simulated")

    def handle(self, *args, **opts):
        if opts["all_contexts"] and (opts["context"] or opts["name"]):
            raise CommandError("--all-contexts cannot be combined with --context or --name")
        try:
            if opts["path"] == "-":
                import sys
                text = sys.stdin.read()
            else:
                text = Path(opts["path"]).read_text()
        except OSError as exc:
            raise CommandError(f"cannot read {opts['path']}: {exc.strerror}") from None
        try:
            doc = services.parse_kubeconfig(text)
            if opts["all_contexts"]:
                contexts = services.kubeconfig_contexts(doc)
            else:
                contexts = [services.resolve_context(doc, opts["context"])[0]]
            for ctx in contexts:
                name = opts["name"] or ctx
                cluster = services.import_cluster(name, text, context=ctx, simulated=opts["simulated"])
                self.stdout.write(f"imported cluster {cluster.name} (context {cluster.context}, "
                                  f"server {cluster.server})")
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
