"""Print every effective setting and where it came from; secrets only as set / not set."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand

from kubenode.config import reference_markdown


class Command(BaseCommand):
    help = "Show the effective configuration and the source of each value."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="one JSON document for scripts")
        parser.add_argument("--reference", action="store_true",
                            help="print the reference table of every key (as in docs/configuration.md)")

    def handle(self, *args, **options):
        if options["reference"]:
            self.stdout.write(reference_markdown(), ending="")
            return
        config = settings.CONFIG
        rows = config.as_rows()
        if options["json"]:
            self.stdout.write(json.dumps({"config_file": config.config_file,
                                          "config_file_source": config.config_file_source,
                                          "warnings": list(config.warnings), "settings": rows}, indent=2))
            return
        width = max(len(r["key"]) for r in rows)
        self.stdout.write(f"config file: {config.describe_file()}")
        for warning in config.warnings:
            self.stdout.write(f"warning: {warning}")
        for row in rows:
            value = row["value"]
            if isinstance(value, list):
                value = ",".join(value) or "(empty)"
            elif value == "":
                value = "(empty)"
            self.stdout.write(f"{row['key']:<{width}}  {value}  [{row['source']}]")
