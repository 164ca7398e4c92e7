from echopilot.plugins import Job, next_utc

SCHEDULES: list[Job] = []

# --- security scan: weekly, Sundays 03:00 UTC -----------------------------------------------------------
SCHEDULES += [
    Job(name="ops_security_scan", func="ops.tasks.security_scan", weekly_at=next_utc(3, 0, weekday=6)),
]

# --- Uptime probes: every minute -----------------------------------------------------------------------
# The ops check is not scheduled: run inside a worker, its heartbeat would wait for a second free
# worker, and a one-worker cluster would report itself dead. Monitors and cron call it from outside.
SCHEDULES += [
    Job(name="uptime_probes", func="ops.tasks.uptime_probes", minutes=1),
]
# --- Backups and DR drills ---------------------------------------------------------------

SCHEDULES += [
    Job(name="ops_backup", func="ops.tasks.backup", daily_at=next_utc(0, 30)),
    Job(name="ops_backup_verify", func="ops.tasks.backup_verify", daily_at=next_utc(2, 30)),
    Job(name="ops_dr_drill", func="ops.tasks.dr_drill", weekly_at=next_utc(1, 0, weekday=6)),
]

# --- The audit chain's weekly check -------------------------------------------------------

SCHEDULES += [Job(name="audit_verify", func="ops.tasks.audit_verify", weekly_at=next_utc(3, 0, weekday=6))]

# --- Dash key rotation check ----------------------------------------------------------------

SCHEDULES += [Job(name="dashkey_check", func="ops.tasks.dashkey_check", daily_at=next_utc(0, 10))]

# --- Log rotation ------------------------------------------------------------------------------

SCHEDULES += [Job(name="log_rotation", func="ops.tasks.rotate_logs", daily_at=next_utc(0, 15))]
