from echopilot.plugins import Job, next_utc

SCHEDULES = [Job(name="portal_prune_rate_buckets", func="portal.tasks.prune_rate_buckets", minutes=60)]

# --- Retention analytics (issue 25) ----------------------------------------------------------------------

SCHEDULES += [Job(name="portal_retention", func="portal.tasks.aggregate_retention", daily_at=next_utc(0, 5))]
