"""Run the doorbell listener as its own process (progress.listener=standalone); --print only shows doorbells."""

import asyncio
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from progress.notify import get_notifier


class Command(BaseCommand):
    help = ("The standalone listener (progress.listener=standalone): receive progress doorbells and send them to "
            "the web processes through the shared channel layer. --print shows doorbells and forwards nothing.")

    def add_arguments(self, parser):
        parser.add_argument("--print", action="store_true", dest="print_",
                            help="a diagnostic: print each doorbell as it arrives, forward nothing")
        parser.add_argument("--seconds", type=float, default=0, help="stop after this many seconds (0: run)")
        parser.add_argument("--health-port", type=int, default=None,
                            help="port of /healthz, /readyz, /metrics (default progress.listener_health_port; 0: none)")

    def handle(self, *args, print_=False, seconds=0, health_port=None, **options):
        standalone = settings.CONFIG["progress.listener"] == "standalone"
        if print_:
            if not standalone:
                self.stderr.write("progress_listen: the channel layer is in-memory (progress.listener=embedded): each "
                                  "web process runs its own listener; printing only")
            status = asyncio.run(self._print(seconds))
        elif not standalone:
            raise CommandError("progress.listener is embedded: each web process runs its own listener. Set "
                               "progress.listener=standalone (PROGRESS_LISTENER) to run it here, or use --print "
                               "to watch doorbells")
        else:
            from progress.notify.standalone import StandaloneListener

            status = asyncio.run(StandaloneListener(health_port).run(seconds))
        sys.stderr.write(f"progress_listen: stopped ({status['requested']} -> {status['effective']})\n")

    async def _print(self, seconds: float) -> dict:
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def show(doorbell):
            print(f"doorbell task={doorbell.task} user={doorbell.user} seq={doorbell.seq} "
                  f"from={doorbell.replica or '-'}", flush=True)

        notifier = get_notifier()
        notifier.start(deliver=show)
        try:
            await asyncio.wait_for(stop.wait(), seconds or None)
        except TimeoutError:
            pass
        status = notifier.status()
        await notifier.aclose()
        return status
