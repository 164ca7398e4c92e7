from echopilot.plugins import Job, next_utc

SCHEDULES: list[Job] = []

# --- security scan: weekly, Sundays 03:00 UTC -----------------------------------------------------------
SCHEDULES += [
    Job(name="ops_security_scan", func="ops.tasks.security_scan", weekly_at=next_utc(3, 0, weekday=6)),
]
