from django.core.management.base import BaseCommand

from incidents import tasks


class Command(BaseCommand):
    help = "Run the pager once: send due pages, read logs/*.ndjson, rewrite logs/incident_summary.json."

    def add_arguments(self, parser):
        parser.add_argument("--digest", action="store_true", help="also send today's digest if it is due")

    def handle(self, *args, **options):
        result = tasks.pager_tick()
        self.stdout.write(
            f"sent {result['sent'] or 'nothing'}; raised from logs {result['raised'] or 'nothing'};"
            f" open {result['open']}"
        )
        if options["digest"]:
            self.stdout.write(tasks.digest_tick())
