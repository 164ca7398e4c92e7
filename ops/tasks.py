"""What django-q2 runs for the console's upkeep; each task is one call into a service module."""

from django.utils import timezone

from . import backups, drills, jobs, logrotate

# --- Backups and DR drills (issue 25) ---------------------------------------------------------------


def backup():
    """Daily 00:30 UTC: take a backup of the database and LOG_DIR."""
    return jobs.run("backup", backups.take_backup).summary


def backup_verify():
    """Daily 02:30 UTC: check every checksum of every kept backup."""
    return jobs.run("backup_verify", backups.verify_backups).summary


def dr_drill():
    """Restore the latest backup into a scratch database and compare it with its manifest."""
    return jobs.run("dr_drill", drills.run_drill).summary


def weekly_dr_drill(now=None):
    """Scheduled daily at 01:00 UTC, drills on Sundays only (django-q2 rows here are daily or by minutes)."""
    now = now or timezone.now()
    if now.weekday() != 6:
        return "not Sunday"
    return dr_drill()


# --- end of backups and DR drills ---------------------------------------------------------------------

# --- The audit chain's weekly check (issue 25; the chain itself is the kernel's) -----------------------


def audit_verify():
    """Weekly: walk the audit chain; a break is named and paged."""
    return jobs.run("audit_verify", jobs.check_audit_chain).summary


def weekly_audit_verify(now=None):
    """Scheduled daily at 03:00 UTC, verifies on Sundays only (the seed's weekly compliance run)."""
    now = now or timezone.now()
    if now.weekday() != 6:
        return "not Sunday"
    return audit_verify()


# --- Dash key rotation check (issue 25) ----------------------------------------------------------------


def dashkey_check():
    """Daily 00:10 UTC: an incident for each dash key too old or about to expire."""
    return jobs.run("dashkey_check", jobs.check_dash_keys).summary


# --- Log rotation (issue 25) ------------------------------------------------------------------------------


def rotate_logs():
    """Daily 00:15 UTC: rotate each NDJSON file holding lines from before today to a dated gzip."""
    return jobs.run("log_rotation", logrotate.rotate_logs).summary
