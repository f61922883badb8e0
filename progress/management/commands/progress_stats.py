import json

from django.core.management.base import BaseCommand

from progress.selectors import stats


class Command(BaseCommand):
    help = ("Batch tasks by status over the last hour, failure rate, running and queued tasks, live workers, stale "
            "heartbeats, oldest unfinished.")

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        data = stats()
        if opts["json"]:
            self.stdout.write(json.dumps(data))
            return
        by_status = ", ".join(f"{k} {v}" for k, v in sorted(data["last_hour_by_status"].items())) or "none"
        self.stdout.write(f"last hour: {by_status}")
        self.stdout.write(f"failure rate: {data['failure_rate']:.1%}")
        self.stdout.write(f"running or queued: {data['running']} ({data['queued_nodes']} node(s) without a result)")
        self.stdout.write(f"live workers: {', '.join(data['workers']) or 'none'}")
        self.stdout.write(f"stale heartbeats: {data['stale_heartbeats']}")
        self.stdout.write(f"oldest unfinished: {data['oldest_unfinished'] or '-'}")
