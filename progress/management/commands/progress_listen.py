"""Run the doorbell listener as its own process; with --print, show doorbells as they arrive."""

import asyncio
import signal
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from progress.notify import get_notifier
from progress.notify.notifier import safe_forward


class Command(BaseCommand):
    help = "Receive progress doorbells (the same listener the web processes run) and forward them."

    def add_arguments(self, parser):
        parser.add_argument("--print", action="store_true", dest="print_", help="print each doorbell")
        parser.add_argument("--seconds", type=float, default=0, help="stop after this many seconds (0: run)")

    def handle(self, *args, print_=False, seconds=0, **options):
        layer = settings.CHANNEL_LAYERS["default"]["BACKEND"]
        if "InMemory" in layer:
            self.stderr.write("progress_listen: the channel layer is in-memory, so doorbells received here cannot "
                              "reach any web process (each web process runs its own listener); "
                              + ("printing only" if print_ else "use --print to watch them"))
        asyncio.run(self._run(print_, seconds))

    async def _run(self, print_: bool, seconds: float) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def deliver(doorbell):
            if print_:
                print(f"doorbell task={doorbell.task} user={doorbell.user} seq={doorbell.seq} "
                      f"from={doorbell.replica or '-'}", flush=True)
            safe_forward(doorbell)

        notifier = get_notifier()
        notifier.start(deliver=deliver)
        try:
            await asyncio.wait_for(stop.wait(), seconds or None)
        except TimeoutError:
            pass
        status = notifier.status()
        await notifier.aclose()
        sys.stderr.write(f"progress_listen: stopped ({status['requested']} -> {status['effective']})\n")
