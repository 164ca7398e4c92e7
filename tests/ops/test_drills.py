import threading
from pathlib import Path

import orjson
import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.template.loader import render_to_string

from echopilot.models import DashKey, JobRun
from incidents.models import Incident
from ops import drills, pgtools, tasks
from ops.dr_card import dr_card_context
from ops.models import DrillReport
from tests.ops.archives import edit_manifest, flip_byte

pytestmark = pytest.mark.django_db(transaction=True)


def latest_archive(backup_dir) -> Path:
    return sorted(Path(backup_dir).glob("*.tar.gz"))[-1]


def test_drill_restores_the_latest_backup_and_every_table_matches(backup_dir, log_dir):
    for n in range(4):
        DashKey.issue(f"k{n}", DashKey.ANALYST)
    call_command("backup")

    call_command("dr_drill")

    report = DrillReport.objects.get()
    assert report.outcome == DrillReport.Outcome.PASSED
    assert report.report["tables"]["echopilot_dashkey"] == {"manifest": 4, "restored": 4, "ok": True}
    assert report.rto_s > 0
    assert report.rpo_s is not None and 0 <= report.rpo_s < 60  # the keys were issued just before
    saved = orjson.loads((log_dir / f"dr_report_{report.started:%Y-%m-%d}.json").read_bytes())
    assert saved["backup"] == latest_archive(backup_dir).name and saved["ok"] is True


def test_drill_names_each_table_whose_count_differs(backup_dir):
    DashKey.issue("k", DashKey.ANALYST)
    call_command("backup")
    edit_manifest(latest_archive(backup_dir), lambda m: m["row_counts"].update(echopilot_dashkey=7))

    with pytest.raises(CommandError) as failed:
        call_command("dr_drill")

    assert "echopilot_dashkey: manifest 7, restored 1" in str(failed.value)
    assert DrillReport.objects.get().outcome == DrillReport.Outcome.FAILED
    assert Incident.objects.get(source="ops").severity == "CRITICAL"


def test_drill_without_any_backup_fails_and_pages():
    with pytest.raises(CommandError, match="no backup"):
        call_command("dr_drill")
    assert JobRun.objects.get(name="dr_drill").outcome == JobRun.Outcome.FAILED
    assert Incident.objects.filter(source="ops").exists()


def test_last_drill_report_is_readable_with_an_analyst_key(analyst_api, backup_dir):
    assert analyst_api.get("/api/ops/dr/last").status_code == 404
    call_command("backup")
    call_command("dr_drill")

    answer = analyst_api.get("/api/ops/dr/last")

    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is True and body["backup"] == latest_archive(backup_dir).name
    assert {"rto_s", "rpo_s", "tables"} <= set(body)


def test_last_drill_report_needs_a_key(client):
    assert client.get("/api/ops/dr/last").status_code == 401


def test_restore_refuses_a_backup_with_a_bad_checksum_and_leaves_the_database(backup_dir):
    DashKey.issue("kept", DashKey.ANALYST)
    call_command("backup")
    DashKey.issue("after-backup", DashKey.ANALYST)
    archive = latest_archive(backup_dir)
    flip_byte(archive)

    with pytest.raises(CommandError, match="restore refused.*does not match"):
        call_command("restore", str(archive), "--yes")

    assert set(DashKey.objects.values_list("name", flat=True)) == {"kept", "after-backup"}


def test_restore_refuses_a_backup_with_migrations_newer_than_the_code(backup_dir):
    call_command("backup")
    archive = latest_archive(backup_dir)
    edit_manifest(archive, lambda m: m["migrations"].append(["ops", "0099_from_the_future"]))

    with pytest.raises(CommandError, match="newer than this code: ops.0099_from_the_future"):
        call_command("restore", str(archive), "--yes")


def test_restore_needs_yes(backup_dir):
    call_command("backup")
    with pytest.raises(CommandError, match="--yes"):
        call_command("restore", str(latest_archive(backup_dir)))


def test_restore_brings_back_the_backed_up_rows(backup_dir):
    DashKey.issue("kept", DashKey.ANALYST)
    call_command("backup")
    DashKey.objects.all().delete()
    DashKey.issue("after-backup", DashKey.ANALYST)

    call_command("restore", str(latest_archive(backup_dir)), "--yes")

    assert list(DashKey.objects.values_list("name", flat=True)) == ["kept"]


@pytest.mark.postgres
def test_postgres_backup_taken_while_writes_go_on_drills_clean(backup_dir):
    """A writer commits keys throughout; the dump and the row counts come from one snapshot, so the
    scratch database it creates matches the manifest table by table, and is dropped after."""
    stop = threading.Event()

    def write():
        n = 0
        while not stop.is_set() and n < 5000:
            DashKey.issue(f"w{n}", DashKey.ANALYST)
            n += 1
        connection.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        call_command("backup")
        call_command("backup")
    finally:
        stop.set()
        writer.join()

    call_command("dr_drill")

    report = DrillReport.objects.get()
    assert report.outcome == DrillReport.Outcome.PASSED, report.problems
    assert report.engine == "postgresql" and report.report["tables"]["echopilot_dashkey"]["restored"] > 0

    with psycopg.connect(**pgtools.connect_kwargs("postgres")) as db:
        left = db.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            (f"{connection.settings_dict['NAME']}_dr_%",),
        ).fetchall()
    assert left == []


@pytest.mark.postgres
def test_postgres_restore_brings_back_the_backed_up_rows(backup_dir):
    DashKey.issue("kept", DashKey.ANALYST)
    call_command("backup")
    DashKey.objects.all().delete()

    call_command("restore", str(latest_archive(backup_dir)), "--yes")

    assert list(DashKey.objects.values_list("name", flat=True)) == ["kept"]


def test_the_drill_task_runs_the_drill_as_a_recorded_job():
    tasks.dr_drill()
    assert JobRun.objects.get(name="dr_drill")
    assert drills.last_report() is not None


def test_reliability_card_shows_last_backup_verify_and_drill(backup_dir):
    empty = render_to_string("ops/card_dr.html", dr_card_context(None))
    assert "none yet" in empty and "never" in empty

    DashKey.issue("k", DashKey.ANALYST)  # a dated row, for the RPO
    call_command("backup")
    call_command("backup_verify")
    call_command("dr_drill")
    html = render_to_string("ops/card_dr.html", dr_card_context(None))

    assert latest_archive(backup_dir).name in html
    assert "every checksum holds" in html
    assert "passed" in html and "RTO" in html and "RPO" in html
