"""The ops check's backup and audit-chain checks: a missing, late or damaged backup and a broken
audit chain show up in the same report as the broker and the database."""

from datetime import timedelta

import pytest
from django.utils import timezone

from echopilot.models import AuditEntry
from ops import checks
from ops.dr_card import check_audit_chain, check_last_backup
from ops.models import Backup
from tests.echopilot.test_audit_chain import chain_of

pytestmark = pytest.mark.django_db


def backup_taken(hours_ago: float, **fields) -> Backup:
    now = timezone.now()
    return Backup.objects.create(
        name=f"echopilot-{hours_ago}.tar.gz", created=now - timedelta(hours=hours_ago), engine="sqlite",
        size_bytes=1000, sha256="0" * 64, **fields,
    )  # fmt: skip


def test_before_the_first_backup_the_check_says_none_was_taken_and_passes():
    assert check_last_backup() == ("ok", "no backup taken yet (manage.py backup; daily at 00:30 UTC)")


def test_last_nights_backup_passes_a_missed_night_warns_and_three_fail():
    backup_taken(3)
    assert check_last_backup()[0] == "ok"
    Backup.objects.all().delete()
    backup_taken(30)
    assert check_last_backup()[0] == "warn"
    Backup.objects.all().delete()
    backup_taken(80)
    verdict, detail = check_last_backup()
    assert verdict == "fail" and "80 h old" in detail


def test_a_backup_whose_verify_failed_fails_the_check_naming_the_problem():
    backup_taken(2, verified_ok=False, verify_problem="manifest.json: checksum mismatch")
    verdict, detail = check_last_backup()
    assert verdict == "fail" and "checksum mismatch" in detail


def test_an_edited_audit_entry_fails_the_check_naming_it():
    chain_of(5)
    assert check_audit_chain()[0] == "ok"
    AuditEntry.objects.filter(seq=3).update(actor="user:someone-else")
    verdict, detail = check_audit_chain()
    assert verdict == "fail" and "3" in detail


@pytest.mark.django_db(transaction=True)  # the checks run in threads of their own
def test_both_are_part_of_the_ops_check(settings):
    settings.OPS_HEARTBEAT_TIMEOUT_S = 0.5
    backup_taken(80)
    report = checks.ops_check(by="test")
    by_name = {outcome.name: outcome for outcome in report.checks}
    assert by_name["backup"].status == "fail" and "80 h old" in by_name["backup"].detail
    assert by_name["audit_chain"].status == "ok"
    assert report.worst == "fail"
