"""What django-q2 runs for the ops app; each task calls one service function, as its manage.py
command does."""

from . import backups, drills, jobs, logrotate, uptime
from . import security_scan as security_scan_module

# --- security scan ------------------------------------------------------------------------------------


def security_scan() -> str:
    """The weekly security scan (the schedule and `manage.py security_scan` alike)."""
    return security_scan_module.summary(security_scan_module.run_scan())


# --- The ops check and auto-recovery ---------------------------------------------------------------


def heartbeat() -> str:
    """The ops check's round trip: queued, run by a qcluster, its result stored."""
    return "alive"


# --- Uptime probes ------------------------------------------------------------------------------------


def uptime_probes() -> str:
    """Every minute: probe the checks that are due, at once, and drop results past UPTIME_RETENTION_DAYS."""
    probed = uptime.run_due()
    expired = uptime.expire_results()
    down = [str(p["check"]) for p in probed if p["state"] == "down"]
    return f"{len(probed)} probed, {len(down)} down{': ' + ', '.join(down) if down else ''}, {expired} expired"


# --- Backups and DR drills ---------------------------------------------------------------


def backup() -> str:
    """Daily 00:30 UTC: take a backup of the database and LOG_DIR."""
    return jobs.run("backup", backups.take_backup).summary


def backup_verify() -> str:
    """Daily 02:30 UTC: check every checksum of every kept backup."""
    return jobs.run("backup_verify", backups.verify_backups).summary


def dr_drill() -> str:
    """Restore the latest backup into a scratch database and compare it with its manifest."""
    return jobs.run("dr_drill", drills.run_drill).summary


# --- The audit chain's weekly check -----------------------


def audit_verify() -> str:
    """Weekly: walk the audit chain; a break is named and paged."""
    return jobs.run("audit_verify", jobs.check_audit_chain).summary


# --- Dash key rotation check ----------------------------------------------------------------


def dashkey_check() -> str:
    """Daily 00:10 UTC: an incident for each dash key too old or about to expire."""
    return jobs.run("dashkey_check", jobs.check_dash_keys).summary


# --- Log rotation ------------------------------------------------------------------------------


def rotate_logs() -> str:
    """Daily 00:15 UTC: rotate each NDJSON file holding lines from before today to a dated gzip."""
    return jobs.run("log_rotation", logrotate.rotate_logs).summary
