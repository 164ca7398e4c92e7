from datetime import timedelta

from echopilot.plugins import Job

# The watch's interval: its schedule, and how lately a look lets the budget tick leave an SLO to it.
WATCH_EVERY = timedelta(minutes=2)

SCHEDULES = [
    Job(name="slo_budget", func="slo.tasks.slo_budget_tick", minutes=15),
    # The 5-minute alert window and "3 breaches within 10 minutes" need a faster look than 15 min.
    Job(name="slo_watch", func="slo.tasks.slo_watch_tick", minutes=WATCH_EVERY // timedelta(minutes=1)),
    # Ingest closes the hours of a service that sends; this builds those of services gone quiet.
    Job(name="slo_close_hours", func="slo.tasks.slo_close_hours", minutes=10),
]
