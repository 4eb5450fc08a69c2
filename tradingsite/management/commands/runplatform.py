from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tradingsite import embedded
from tradingsite.asgiserver import build_server
from tradingsite.celery import app as celery_app


class Command(BaseCommand):
    help = (
        "Run the embedded profile: daphne, a Celery worker and beat in one process. "
        "The served profile runs daphne, `celery worker` and `celery beat` separately instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--worker-concurrency", type=int, default=4)
        parser.add_argument("--no-worker", action="store_true",
                            help="serve pages only (a separate worker consumes the broker)")
        parser.add_argument("--no-beat", action="store_true", help="do not run beat here")
        parser.add_argument("--no-streams", action="store_true",
                            help="do not follow market streams here (run_streams elsewhere)")

    def handle(self, *args, **options):
        if settings.PLATFORM_PROFILE == "served" and not options["no_worker"]:
            raise CommandError(
                "REDIS_URL is set (served profile): run daphne, `celery worker` and `celery beat` "
                "as separate processes (see docker-compose.yml), or pass --no-worker --no-beat."
            )
        from channels.routing import get_default_application

        worker = beat = streams = None
        if not options["no_worker"]:
            worker = embedded.start_worker(celery_app, concurrency=options["worker_concurrency"])
        if not options["no_beat"]:
            beat = embedded.start_beat(celery_app)
        if settings.MARKET_STREAMS_ENABLED and not options["no_streams"]:
            streams = embedded.start_streams()
        url = f"http://{options['host']}:{options['port']}/"
        profile = settings.PLATFORM_PROFILE
        self.stdout.write(self.style.SUCCESS(f"Trading platform ({profile}) on {url}"))
        try:
            build_server(get_default_application(), host=options["host"], port=options["port"],
                         signal_handlers=True).run()
        finally:
            embedded.stop(worker, beat, streams)
