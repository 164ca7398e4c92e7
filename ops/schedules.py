from echopilot.plugins import Job

SCHEDULES = [
    # --- The ops check and uptime probes ---
    Job(name="ops_check", func="ops.tasks.ops_check_tick", minutes=15),
    Job(name="uptime_probes", func="ops.tasks.uptime_probes", minutes=1),
]
