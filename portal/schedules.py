from echopilot.plugins import Job, next_utc

SCHEDULES = [
    Job(name="portal_prune_rate_buckets", func="portal.tasks.prune_rate_buckets", minutes=60),
    # Stripe gives up retrying a webhook after three days; the nightly run recovers what it missed.
    Job(name="portal_stripe_reconcile", func="portal.tasks.stripe_reconcile", daily_at=next_utc(23, 50)),
]

# --- Retention analytics ----------------------------------------------------------------------

SCHEDULES += [Job(name="portal_retention", func="portal.tasks.aggregate_retention", daily_at=next_utc(0, 5))]
