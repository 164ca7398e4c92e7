import sqlite3
import sys
import tarfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from echopilot.events import append_event
from echopilot.models import DashKey, JobRun
from incidents.models import Incident
from ops import backups
from ops.models import Backup
from tests.ops.archives import flip_byte, manifest_of, rewrite

pytestmark = pytest.mark.django_db(transaction=True)


def only_archive(backup_dir) -> Path:
    archives = sorted(Path(backup_dir).glob("*.tar.gz"))
    assert len(archives) == 1
    return archives[0]


def test_backup_holds_the_database_the_logs_and_a_manifest_of_checksums(backup_dir, log_dir):
    for n in range(3):
        DashKey.issue(f"k{n}", DashKey.ANALYST)
    append_event("slo_budget", "tick", p95_ms=12)

    call_command("backup")

    archive = only_archive(backup_dir)
    manifest = manifest_of(archive)
    assert manifest["row_counts"]["echopilot_dashkey"] == 3
    assert ["ops", "0002_backups_and_drills"] in manifest["migrations"]
    dump = "database/db.dump" if connection.vendor == "postgresql" else "database/db.sqlite3"
    assert set(manifest["files"]) == {dump, "logs/slo_budget.ndjson"}
    with tarfile.open(archive) as tar:
        logged = tar.extractfile("logs/slo_budget.ndjson").read()
    assert b'"p95_ms":12' in logged
    assert Path(f"{archive}.sha256").read_text().split()[0] == backups.sha256_of(archive)
    assert backups.verify_archive(archive) == []
    run = JobRun.objects.get(name="backup")
    assert run.outcome == JobRun.Outcome.OK and archive.name in run.summary
    line = orjson.loads((log_dir / "backup.ndjson").read_text().splitlines()[-1])
    assert line["job"] == "backup" and line["outcome"] == "ok"


def test_sqlite_copy_taken_while_a_writer_commits_holds_whole_transactions_only(tmp_path):
    live = tmp_path / "live.sqlite3"
    setup = sqlite3.connect(live)
    setup.executescript("PRAGMA journal_mode=WAL; CREATE TABLE pair (n INTEGER, half INTEGER);")
    setup.close()
    stop = threading.Event()

    def write_pairs():
        db = sqlite3.connect(live, timeout=30)
        n = 0
        while not stop.is_set() and n < 50_000:
            with db:  # each pair is one transaction: a consistent copy never holds half of one
                db.execute("INSERT INTO pair VALUES (?, 0)", (n,))
                db.execute("INSERT INTO pair VALUES (?, 1)", (n,))
            n += 1
        db.close()

    writer = threading.Thread(target=write_pairs)
    writer.start()
    try:
        time.sleep(0.2)
        copies = []
        for i in range(5):
            source = sqlite3.connect(live, timeout=30)
            backups.copy_sqlite(source, tmp_path / f"copy{i}.sqlite3")
            source.close()
            copies.append(tmp_path / f"copy{i}.sqlite3")
    finally:
        stop.set()
        writer.join()
    sizes = []
    for copy in copies:
        db = sqlite3.connect(copy)
        rows = db.execute("SELECT COUNT(*), COUNT(DISTINCT n) FROM pair").fetchone()
        db.close()
        assert rows[0] == 2 * rows[1]
        sizes.append(rows[0])
    assert sizes[-1] > 0 and sizes == sorted(sizes)


def test_one_flipped_byte_is_found_and_the_archive_named(backup_dir):
    call_command("backup")
    archive = only_archive(backup_dir)
    flip_byte(archive)

    with pytest.raises(CommandError) as refused:
        call_command("backup_verify")

    assert archive.name in str(refused.value) and "does not match" in str(refused.value)
    row = Backup.objects.get(name=archive.name)
    assert row.verified_ok is False and archive.name in row.verify_problem
    incident = Incident.objects.get(source="ops")
    assert incident.severity == "CRITICAL" and "backup_verify failed" in incident.message


def test_a_changed_member_is_named_against_the_manifest(backup_dir):
    append_event("costs", "spend", usd="1.00")
    call_command("backup")
    archive = only_archive(backup_dir)
    rewrite(archive, lambda name, data: data.replace(b"1.00", b"9.00") if name == "logs/costs.ndjson" else data)

    problems = backups.verify_archive(archive)

    assert len(problems) == 1 and "logs/costs.ndjson" in problems[0]


def test_verify_passes_sound_backups_and_records_when(backup_dir):
    call_command("backup")
    call_command("backup_verify")
    row = Backup.objects.get()
    assert row.verified_ok is True and row.last_verified is not None
    assert JobRun.objects.get(name="backup_verify").outcome == JobRun.Outcome.OK


def test_archives_older_than_keep_days_are_deleted(backup_dir, settings):
    settings.BACKUP_KEEP_DAYS = 30
    now = timezone.now()
    backups.take_backup(now=now - timedelta(days=31))
    old = only_archive(backup_dir)

    result = backups.take_backup(now=now)

    assert result["pruned"] == [old.name]
    assert not old.exists() and not Path(f"{old}.sha256").exists()
    assert len(list(Path(backup_dir).glob("*.tar.gz"))) == 1


def test_upload_command_copies_the_archive_off_the_host(backup_dir, settings, tmp_path):
    offsite = tmp_path / "offsite"
    offsite.mkdir()
    settings.BACKUP_UPLOAD_COMMAND = f"cp {{path}} {offsite}/{{name}}"

    call_command("backup")

    archive = only_archive(backup_dir)
    assert (offsite / archive.name).read_bytes() == archive.read_bytes()
    assert Backup.objects.get().uploaded is True


def test_a_failed_upload_pages_and_keeps_the_backup(backup_dir, settings):
    settings.BACKUP_UPLOAD_COMMAND = f"{sys.executable} -c \"import sys; sys.stderr.write('bucket gone'); sys.exit(3)\""

    with pytest.raises(CommandError) as failed:
        call_command("backup")

    assert "exit status 3: bucket gone" in str(failed.value)
    assert only_archive(backup_dir).exists()
    assert Backup.objects.get().uploaded is False
    assert Incident.objects.get(source="ops").severity == "CRITICAL"


@pytest.mark.parametrize("where", [0.1, 0.3, 0.5, 0.7, 0.9])
def test_a_flipped_byte_anywhere_is_named_never_a_crash(backup_dir, where):
    append_event("costs", "spend", usd="1.00", note="x" * 5000)
    backups.take_backup()
    archive = only_archive(backup_dir)
    flip_byte(archive, int(archive.stat().st_size * where))

    problems = backups.verify_archive(archive)

    assert problems and all(archive.name in p for p in problems)
