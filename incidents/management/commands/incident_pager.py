from django.core.management.base import BaseCommand, CommandError

from incidents import digest, tasks


class Command(BaseCommand):
    help = "Run the pager once: send due pages, read logs/*.ndjson, rewrite logs/incident_summary.json."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--digest", action="store_true", help="also send today's digest if it is due")
        parser.add_argument(
            "--preview", action="store_true", help="with --digest: print the digest that would go out; send nothing"
        )

    def handle(self, *args, **options) -> None:
        if options["preview"]:
            if not options["digest"]:
                raise CommandError("--preview applies to --digest: incident_pager --digest --preview")
            self.stdout.write(digest.preview())
            return
        result = tasks.pager_tick()
        self.stdout.write(
            f"sent {result['sent'] or 'nothing'}; raised from logs {result['raised'] or 'nothing'};"
            f" open {result['open']}"
        )
        if options["digest"]:
            self.stdout.write(tasks.digest_tick())
