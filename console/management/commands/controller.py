import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from console import controller


class Command(BaseCommand):
    help = "Run the controller loop that advances time-driven work (safe to run twice)."

    def add_arguments(self, parser):
        parser.add_argument("--ticks", type=int, default=None, help="Stop after N ticks.")
        parser.add_argument(
            "--interval",
            type=float,
            default=settings.CONTROLLER_TICK_SECONDS,
            help="Seconds between ticks (default %(default)s).",
        )

    def handle(self, *args, ticks=None, interval=1.0, **options):
        stopping = {"now": False}

        def stop(signum, frame):
            stopping["now"] = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        names = ", ".join(h.name for h in controller.hooks()) or "none"
        self.stdout.write(f"controller: ticking every {interval}s; hooks: {names}")
        done = controller.run_forever(
            interval=interval, max_ticks=ticks, stop=lambda: stopping["now"]
        )
        self.stdout.write(f"controller: stopped after {done} ticks")
