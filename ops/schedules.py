from echopilot.plugins import Job

SCHEDULES = [
    # --- Uptime probes ---
    # The ops check is not scheduled: run inside a worker, its heartbeat would wait for a second free
    # worker, and a one-worker cluster would report itself dead. Monitors and cron call it from outside.
    Job(name="uptime_probes", func="ops.tasks.uptime_probes", minutes=1),
]
