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
