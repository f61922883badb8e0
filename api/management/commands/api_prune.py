from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from api.tokens import prune_requests


class Command(BaseCommand):
    help = ("Delete the log rows of API token requests older than api.request_retention_days (or --days). Run it "
            "daily (a CronJob: docs/operations.md).")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None,
                            help="keep this many days instead of api.request_retention_days")

    def handle(self, *args, **opts):
        try:
            count = prune_requests(opts["days"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages), returncode=2) from None
        self.stdout.write(f"pruned {count} token request(s)")
