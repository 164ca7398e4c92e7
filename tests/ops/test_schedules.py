from datetime import UTC, datetime

from echopilot.plugins import next_utc
from echopilot.registry import declared_jobs


def test_each_upkeep_job_is_scheduled_at_its_hour():
    jobs = {job.name: job for job in declared_jobs()}
    expected = {
        "ops_backup": ("ops.tasks.backup", 0, 30),
        "ops_backup_verify": ("ops.tasks.backup_verify", 2, 30),
        "log_rotation": ("ops.tasks.rotate_logs", 0, 15),
        "dashkey_check": ("ops.tasks.dashkey_check", 0, 10),
        "portal_retention": ("portal.tasks.aggregate_retention", 0, 5),
    }
    for name, (func, hour, minute) in expected.items():
        job = jobs[name]
        assert job.func == func and job.minutes is None
        assert (job.daily_at.hour, job.daily_at.minute) == (hour, minute)


def test_the_drill_and_the_audit_check_run_weekly_on_sundays():
    jobs = {job.name: job for job in declared_jobs()}
    for name, func, hour in (("ops_dr_drill", "ops.tasks.dr_drill", 1), ("audit_verify", "ops.tasks.audit_verify", 3)):
        job = jobs[name]
        assert job.func == func and job.daily_at is None and job.minutes is None
        assert (job.weekly_at.weekday(), job.weekly_at.hour, job.weekly_at.minute) == (6, hour, 0)


def test_next_utc_is_today_before_the_hour_and_tomorrow_after_it():
    assert next_utc(0, 30, now=datetime(2026, 12, 6, 0, 10, tzinfo=UTC)) == datetime(2026, 12, 6, 0, 30, tzinfo=UTC)
    assert next_utc(0, 30, now=datetime(2026, 12, 6, 0, 30, tzinfo=UTC)) == datetime(2026, 12, 7, 0, 30, tzinfo=UTC)
