"""DR drills and restores: a backup is only proven by restoring it.

A drill restores the latest archive into a scratch database (a temp SQLite file, or a PostgreSQL
database it creates and drops), migrates it, compares every table's row count with the manifest,
and reports the time that took (RTO) and how far the newest restored row lies behind the backup's
time (RPO). A restore does the same into the live database, after refusing a damaged archive or one
whose migrations are newer than the code.
"""

import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, models
from django.db.utils import load_backend
from django.utils import timezone

from echopilot.events import write_snapshot

from . import backups, pgtools
from .models import DrillReport

SCRATCH_ALIAS = "dr_scratch"


def run_drill(now=None, archive: Path | None = None) -> dict:
    """Restore `archive` (default: the latest) into a scratch database and compare; the job result,
    also kept as a DrillReport and as LOG_DIR/dr_report_<date>.json."""
    now = now or timezone.now()
    archive = archive or backups.latest_archive()
    if archive is None:
        return _record(now, {"ok": False, "summary": f"no backup under {backups.backup_dir()} to drill"})
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="echopilot-drill-") as scratch:
            manifest, database = backups.open_verified(archive, Path(scratch))
            with scratch_database(manifest["engine"], database, now) as alias:
                call_command("migrate", database=alias, interactive=False, verbosity=0)
                restored = table_counts(alias)
                newest = newest_row_time(alias, datetime.fromisoformat(manifest["created"]))
    except ValidationError as exc:
        return _record(now, {"ok": False, "summary": "; ".join(exc.messages), "backup": archive.name})
    rto = time.monotonic() - started
    return _record(now, _compare(archive.name, manifest, restored, newest, rto))


def _compare(name: str, manifest: dict, restored: dict, newest, rto: float) -> dict:
    tables = {}
    for table, expected in sorted(manifest["row_counts"].items()):
        got = restored.get(table)
        tables[table] = {"manifest": expected, "restored": got, "ok": got == expected}
    mismatches = [f"{t}: manifest {v['manifest']}, restored {v['restored']}" for t, v in tables.items() if not v["ok"]]
    created = datetime.fromisoformat(manifest["created"])
    rpo = (created - newest).total_seconds() if newest else None
    summary = f"{name}: {len(tables)} tables match, RTO {rto:.1f} s" + (f", RPO {rpo:.0f} s" if rpo is not None else "")
    if mismatches:
        summary = f"{name}: {len(mismatches)} table(s) differ: " + "; ".join(mismatches[:5])
    return {
        "ok": not mismatches,
        "summary": summary,
        "backup": name,
        "backup_created": manifest["created"],
        "engine": manifest["engine"],
        "rto_s": round(rto, 3),
        "rpo_s": None if rpo is None else round(rpo, 3),
        "newest_row": newest.isoformat() if newest else None,
        "tables": tables,
        "mismatches": mismatches,
    }


def _record(now, result: dict) -> dict:
    report = {"started": now.isoformat(), **result}
    DrillReport.objects.create(
        started=now,
        backup_name=result.get("backup", ""),
        engine=result.get("engine", ""),
        outcome=DrillReport.Outcome.PASSED if result["ok"] else DrillReport.Outcome.FAILED,
        rto_s=result.get("rto_s"),
        rpo_s=result.get("rpo_s"),
        problems=result.get("mismatches") or ([] if result["ok"] else [result["summary"]]),
        report=report,
    )
    write_snapshot(f"dr_report_{now:%Y-%m-%d}.json", report)
    return result


def last_report() -> dict | None:
    """The latest drill's report, as GET /api/ops/dr/last answers it."""
    latest = DrillReport.objects.order_by("-started").first()
    return latest.report if latest else None


# --- the scratch database -------------------------------------------------------------------------------


@contextmanager
def scratch_database(engine: str, database: Path, now) -> Iterator[str]:
    """A database alias holding the restored copy, gone (and on PostgreSQL dropped) afterwards."""
    if engine == "postgresql":
        name = f"{connection.settings_dict['NAME']}_dr_{now:%Y%m%d%H%M%S}"[:63]
        pgtools.drop_database(name)
        pgtools.create_database(name)
        try:
            pgtools.run("pg_restore", "--no-owner", "--exit-on-error", f"--dbname={name}", str(database), dbname=name)
            with _alias({"NAME": name}) as alias:
                yield alias
        finally:
            pgtools.drop_database(name)
    else:
        if settings.USING_POSTGRES:
            raise ValidationError({"backup": "a SQLite backup cannot be drilled from a PostgreSQL console"})
        with _alias({"NAME": str(database)}) as alias:
            yield alias


@contextmanager
def _alias(overrides: dict) -> Iterator[str]:
    # A connection made here and only for this thread: not in DATABASES, so nothing else (another
    # thread, the admin) ever reaches the scratch database by its alias.
    settings_dict = {**connection.settings_dict, **overrides}
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, SCRATCH_ALIAS)
    connections[SCRATCH_ALIAS] = wrapper
    try:
        yield SCRATCH_ALIAS
    finally:
        wrapper.close()
        del connections[SCRATCH_ALIAS]


def table_counts(alias: str) -> dict[str, int]:
    """Rows per table in the database behind `alias`."""
    db = connections[alias]
    with db.cursor() as cursor:
        tables = db.introspection.table_names(cursor)
        counts = {}
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {db.ops.quote_name(table)}")
            counts[table] = cursor.fetchone()[0]
    return counts


def newest_row_time(alias: str, until: datetime) -> datetime | None:
    """The latest date-time stored in any row at or before `until` (later values are deadlines such
    as expiries, not writes): how recent the restored data is."""
    newest = None
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if not isinstance(field, models.DateTimeField):
                continue
            try:
                found = (
                    model._base_manager.using(alias)
                    .filter(**{f"{field.attname}__lte": until})
                    .aggregate(latest=models.Max(field.attname))["latest"]
                )
            except DatabaseError:
                continue  # a table the restored schema does not have
            if found is not None and (newest is None or found > newest):
                newest = found
    return newest


# --- restoring into the live database ------------------------------------------------------------------


def restore(archive: Path) -> dict:
    """Replace the live database with `archive`'s, then migrate it to this code. Refused (a
    ValidationError naming why) when a checksum fails or the backup has migrations this code lacks."""
    with tempfile.TemporaryDirectory(prefix="echopilot-restore-") as scratch:
        manifest, database = backups.open_verified(archive, Path(scratch))
        newer = backups.newer_migrations(manifest)
        if newer:
            raise ValidationError({"backup": f"{archive.name} has migrations newer than this code: {', '.join(newer)}"})
        if manifest["engine"] != ("postgresql" if settings.USING_POSTGRES else "sqlite"):
            raise ValidationError(
                {"backup": f"{archive.name} is a {manifest['engine']} backup; this console runs another"}
            )
        started = time.monotonic()
        if manifest["engine"] == "postgresql":
            connection.close()
            pgtools.run(
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                f"--dbname={connection.settings_dict['NAME']}",
                str(database),
            )
        else:
            _restore_sqlite(database)
    call_command("migrate", interactive=False, verbosity=0)
    rows = sum(manifest["row_counts"].values())
    return {
        "ok": True,
        "summary": f"restored {archive.name} ({rows:,} rows) in {time.monotonic() - started:.1f} s",
        "backup": archive.name,
    }


def _restore_sqlite(database: Path) -> None:
    # The backup API writes the copy's pages into the live file under its write lock, so other
    # connections see either the old database or the restored one.
    connection.ensure_connection()
    source = sqlite3.connect(database)
    try:
        source.backup(connection.connection)
    finally:
        source.close()
