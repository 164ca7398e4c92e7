from django.conf import settings

from echopilot.plugins import Job

SCHEDULES = [
    Job(name="autoscale_workers", func="scaling.tasks.autoscale_workers_tick", minutes=settings.SCALE_TICK_MIN)
]
