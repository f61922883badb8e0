import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from progress.services import prune

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text or "")
    if not match:
        raise CommandError(f"--older-than expects a number and a unit (s, m, h, d, w), e.g. 7d; got {text!r}",
                           returncode=2)
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


class Command(BaseCommand):
    help = "Delete finished batch tasks (and their messages) older than the given age; never an unfinished one."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", required=True, help="e.g. 7d, 12h, 30m")

    def handle(self, *args, **opts):
        count = prune(parse_age(opts["older_than"]))
        self.stdout.write(f"pruned {count} finished task(s)")
