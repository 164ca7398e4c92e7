"""Realistic response bodies of the scaling endpoints, for the OpenAPI schema."""

from echopilot.openapi import documented

SIGNALS = {
    "at": "2026-11-22T03:00:00+00:00",
    "source": "measured",
    "queue_depth": 40,
    "queue_time_s": 12.5,
    "arrivals_per_min": 90.0,
    "p95_ms": 640.0,
    "error_rate": 0.002,
    "workers_actual": 2,
    "jobs_per_worker_min": 30.0,
}
NULLABLE: tuple[str, ...] = ("p95_ms", "error_rate", "workers_actual", "jobs_per_worker_min", "method")
NULLABLE += ("peak_per_min", "lead_min", "cooldown_until")
STATUS_BODY = {
    "desired": 4,
    "actual": 2,
    "reason": "Want 4 workers, 2 running. 90 jobs/min to serve and 40 waiting to clear within 60s need 3.4 workers.",
    "dry_run": True,
    "would_apply": False,
    "constraints": ["dry_run"],
    "recommended": 4,
    "raw": 3.42,
    "signals": {**SIGNALS, "idle_min": 0.0, "age_min": 0, "history_buckets": 12},
    "forecast": {"method": "seasonal", "per_min": [88.0, 95.5], "peak_per_min": 95.5, "lead_min": 5},
    "cooldown_until": "2026-11-22T03:10:00+00:00",
    "gate_shut": False,
    "spend_frozen": False,
    "actuator": "record",
    "bounds": {"min": 1, "max": 6},
    "as_of": "2026-11-22T03:00:00+00:00",
}
STATUS = documented(STATUS_BODY, "Desired vs actual workers, why, and every signal read.", NULLABLE)
APPLIED = documented(
    {**STATUS_BODY, "outcome": "dry", "decision_id": 31}, "The decision, and whether it was applied.", NULLABLE
)
RECORDED = documented({**SIGNALS, "source": "pushed"}, "The reading as stored.", NULLABLE)
