from echopilot.plugins import Job

SCHEDULES = [Job(name="portal_prune_rate_buckets", func="portal.tasks.prune_rate_buckets", minutes=60)]
