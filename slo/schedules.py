from echopilot.plugins import Job

SCHEDULES = [
    Job(name="slo_budget", func="slo.tasks.slo_budget_tick", minutes=15),
    # The 5-minute alert window and "3 breaches within 10 minutes" need a faster look than 15 min.
    Job(name="slo_watch", func="slo.tasks.slo_watch_tick", minutes=2),
]
