"""The "Reliability & DR" part of the ops card (last backup: size, age; last verify; last drill), and the
ops check's backup and audit-chain checks."""

from django.utils import timezone

from echopilot import audit
from echopilot.jobs import last_run

from .models import Backup, DrillReport

STALE_BACKUP_HOURS = 26  # a daily backup a little late is not yet a problem


def dr_card_context(request, now=None) -> dict:
    """Context for templates/ops/card_dr.html."""
    now = now or timezone.now()
    backup = Backup.objects.filter(deleted__isnull=True).order_by("-created").first()
    age_h = (now - backup.created).total_seconds() / 3600 if backup else None
    return {
        "backup": backup,
        "backup_age_h": age_h,
        "backup_stale": age_h is None or age_h > STALE_BACKUP_HOURS,
        "backup_run": last_run("backup"),
        "verify_run": last_run("backup_verify"),
        "drill": DrillReport.objects.order_by("-started").first(),
    }


BROKEN_BACKUP_HOURS = 74  # three nightly backups missed


def check_last_backup(now=None) -> tuple[str, str]:
    """The ops check's `backup`: the newest kept backup's age and its last verify, once one exists."""
    now = now or timezone.now()
    backup = Backup.objects.filter(deleted__isnull=True).order_by("-created").first()
    if backup is None:
        return "ok", "no backup taken yet (manage.py backup; daily at 00:30 UTC)"
    age_h = (now - backup.created).total_seconds() / 3600
    detail = f"last backup {backup.name}, {age_h:.0f} h old"
    if backup.verified_ok is False:
        return "fail", f"{detail}; its last verify failed: {backup.verify_problem[:200]}"
    if age_h > BROKEN_BACKUP_HOURS:
        return "fail", f"{detail}: no backup for three nights"
    if age_h > STALE_BACKUP_HOURS:
        return "warn", f"{detail}: last night's backup is missing"
    return "ok", detail


def check_audit_chain() -> tuple[str, str]:
    """The ops check's `audit_chain`: the whole chain walked, the first break named."""
    result = audit.verify_chain()
    if result["ok"]:
        return "ok", f"{result['checked']:,} audit entries, the chain holds"
    return "fail", result["break"]["message"]
