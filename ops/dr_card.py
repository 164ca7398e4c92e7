"""The "Reliability & DR" part of the ops card: last backup (size, age), last verify, last drill."""

from django.utils import timezone

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
