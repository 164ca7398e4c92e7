from echopilot.plugins import Job

SCHEDULES = [
    Job(name="incident_pager", func="incidents.tasks.pager_tick", minutes=5),
    # Checked every 15 minutes; the digest goes out once per local day at or after 09:00.
    Job(name="incident_digest", func="incidents.tasks.digest_tick", minutes=15),
]
