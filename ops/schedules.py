from echopilot.plugins import Job, next_utc

SCHEDULES: list[Job] = []

# --- Backups and DR drills (issue 25) ---------------------------------------------------------------

SCHEDULES += [
    Job(name="ops_backup", func="ops.tasks.backup", daily_at=next_utc(0, 30)),
    Job(name="ops_backup_verify", func="ops.tasks.backup_verify", daily_at=next_utc(2, 30)),
    Job(name="ops_dr_drill", func="ops.tasks.weekly_dr_drill", daily_at=next_utc(1, 0)),
]

# --- The audit chain's weekly check (issue 25) -------------------------------------------------------

SCHEDULES += [Job(name="audit_verify", func="ops.tasks.weekly_audit_verify", daily_at=next_utc(3, 0))]

# --- Dash key rotation check (issue 25) ----------------------------------------------------------------

SCHEDULES += [Job(name="dashkey_check", func="ops.tasks.dashkey_check", daily_at=next_utc(0, 10))]

# --- Log rotation (issue 25) ------------------------------------------------------------------------------

SCHEDULES += [Job(name="log_rotation", func="ops.tasks.rotate_logs", daily_at=next_utc(0, 15))]
