from django.core.management.base import BaseCommand, CommandParser
from django.template.defaultfilters import filesizeformat

from echopilot.housekeeping import TableReport, retention_report
from echopilot.tasks import prune_tick

COLUMNS = ("table", "rows", "size", "oldest (UTC)", "keep", "last prune (UTC)")


class Command(BaseCommand):
    help = (
        "Delete what has outlived its retention setting, in every app (the daily console_prune job); "
        "--report shows each retained table's rows, size, oldest row and last prune instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--report",
            action="store_true",
            help="delete nothing: print each retained table's figures (what the ops card shows)",
        )

    def handle(self, *args, **options) -> None:
        if options["report"]:
            self.report()
            return
        for table, rows in prune_tick().items():
            self.stdout.write(f"{table}: {rows} deleted")

    def report(self) -> None:
        report = retention_report()
        lines = [COLUMNS] + [_cells(line) for line in report]
        widths = [max(len(cells[i]) for cells in lines) for i in range(len(COLUMNS))]
        for cells in lines:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip())
        behind = [line.name for line in report if line.behind]
        if behind:
            self.stdout.write(f"behind (oldest row past its retention plus a day): {', '.join(behind)}")


def _cells(line: TableReport) -> tuple[str, ...]:
    # A slice of the table above (the SLO rollups' resolutions) shares its rows and size.
    rows = "″" if line.same_table else ("?" if line.rows is None else f"≈{line.rows:,}")
    size = "″" if line.same_table else ("-" if line.bytes is None else filesizeformat(line.bytes).replace("\xa0", " "))
    if line.unindexed:
        oldest = line.unindexed
    elif line.oldest is None:
        oldest = "empty"
    else:
        oldest = ("expires " if line.expires else "") + f"{line.oldest:%Y-%m-%d %H:%M}"
        oldest += f" ({line.age_days} d)" if line.age_days is not None else ""
    if line.behind:
        oldest += " BEHIND"
    keep = "until expiry" if line.expires else f"{line.keep_days} d"
    if line.pruned_by:
        last = line.pruned_by
    elif line.last_prune is None:
        last = "never"
    else:
        done = "failed" if line.prune_failed else f"{line.last_deleted or 0:,} deleted"
        last = f"{line.last_prune:%Y-%m-%d %H:%M} {done}"
    return (line.name, rows, size, oldest, keep, last)
