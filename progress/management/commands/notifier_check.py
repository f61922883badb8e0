"""Check the configured notifier end to end: exit 0 only when it works; otherwise the diagnostics block."""

import json

from django.core.management.base import BaseCommand, CommandError

from progress.notify.check import run_check


class Command(BaseCommand):
    help = "A real round trip through the configured progress notifier (LISTEN/NOTIFY, Redis, ...)."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="one JSON object, for scripts")

    def handle(self, *args, **options):
        result = run_check()
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict()))
        else:
            self.stdout.write(f"requested:   {result.requested}")
            self.stdout.write(f"effective:   {result.effective}")
            self.stdout.write(f"healthy:     {'yes' if result.healthy else 'no'}")
            self.stdout.write(f"fallback:    {'yes' if result.fallback else 'no'}")
            rtt = f"{result.round_trip_ms:.1f} ms" if result.round_trip_ms is not None else "-"
            self.stdout.write(f"round trip:  {rtt}")
            if result.healthy:
                self.stdout.write(self.style.SUCCESS(f"{result.requested}: verified end to end"))
            else:
                self.stdout.write(result.diagnostics)
                if result.fallback:
                    self.stdout.write(f"a replica configured like this would fall back to polling "
                                      f"and keep retrying {result.requested}")
        if not result.healthy:
            raise CommandError(f"notifier {result.requested} is not working: {result.error}", returncode=1)
