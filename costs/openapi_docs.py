"""Realistic request and response bodies of the cost guardrail endpoints, for the OpenAPI schema."""

from echopilot.openapi import documented, request_example

DECISION = {
    "decision": "warn",
    "model": "gpt-4o-mini",
    "requested_model": "gpt-4o-mini",
    "reason": "92.00% of the gpt-4o-mini daily cap ($13.80 of $15.00)",
    "retry_after": 3600,
    "utilization_pct": 92.0,
    "override_until": "2026-11-22T18:00:00+00:00",
}
DECISION_NULLABLE = ("retry_after", "override_until", "utilization_pct")

AUTHORIZE_REQUEST = request_example({"model": "gpt-4o-mini", "est_usd": 0.0042})
AUTHORIZED = documented(
    DECISION,
    "allow, warn (at 90% of a cap), downgrade (to `model`) or throttle (until `retry_after` seconds pass).",
    nullable=DECISION_NULLABLE,
)

USAGE_REQUEST = request_example(
    {"model": "gpt-4o-mini", "input_tokens": 1830, "output_tokens": 412, "request_id": "req_8f2c1d9e"}
)
USAGE_REPORTED = documented(
    {
        "request_id": "req_8f2c1d9e",
        "kind": "ai",
        "model": "gpt-4o-mini",
        "usd": 0.000522,
        "day": "2026-11-22",
        "duplicate": False,
        "decision": DECISION,
    },
    "The spend as recorded (a repeated request_id counts once), and the model's decision after it.",
    nullable=DECISION_NULLABLE,
)

CAP = {
    "scope": "model",
    "key": "gpt-4o-mini",
    "usd_cap": 15.0,
    "spent_usd": 13.8,
    "utilization_pct": 92.0,
    "state": "warn",
    "override_until": "2026-11-22T18:00:00+00:00",
}
SET_CAP_REQUEST = request_example({"scope": "model", "key": "gpt-4o-mini", "usd_cap": 15.0})
CAP_SET = documented(
    {
        **CAP,
        "fallback_chain": ["gpt-4o-mini", "gpt-3.5-turbo"],
        "decision": "warn",
        "fallback_in_force": "gpt-3.5-turbo",
        "override_blocked_by_daily_cap": False,
        "warnings": ["no price for gpt-4o-mini-2026 in the price table: its usage reports must give usd"],
    },
    "The cap as it stands now, with today's spend against it; `warnings` names what may surprise.",
    nullable=("override_until", "fallback_in_force"),
)

OVERRIDE_REQUEST = request_example(
    {"scope": "model", "key": "gpt-4o-mini", "minutes": 60, "reason": "launch traffic; raising the cap tomorrow"}
)
OVERRIDDEN = documented(
    {
        "scope": "model",
        "key": "gpt-4o-mini",
        "until": "2026-11-22T13:00:30+00:00",
        "reason": "launch traffic; raising the cap tomorrow",
        "created_by": "key:ci-deploy",
        "cap": {
            **CAP,
            "state": "throttle",
            "utilization_pct": 104.0,
            "spent_usd": 15.6,
            "fallback_chain": ["gpt-3.5-turbo"],
            "decision": "allow",
            "fallback_in_force": None,
            "override_until": "2026-11-22T13:00:30+00:00",
            "override_blocked_by_daily_cap": False,
        },
        "warnings": [],
    },
    "The override granted (the cap is ignored until `until`) and its cap as it stands now. `warnings` "
    "says what it will not do: a model's override lets nothing through while the global daily cap is "
    "reached (`cap.override_blocked_by_daily_cap`).",
    nullable=("override_until", "fallback_in_force"),
)

STATUS = documented(
    {
        "day": "2026-11-22",
        "timezone": "UTC",
        "as_of": "2026-11-22T12:00:30+00:00",
        "resets_at": "2026-11-23T00:00:00+00:00",
        "spend_today_usd": 20.04,
        "stripe_fees_today_usd": 1.68,
        "caps": [{**CAP, "scope": "daily", "key": "", "usd_cap": 25.0, "spent_usd": 20.04, "utilization_pct": 80.16}],
        "models": [{"model": "gpt-4o-mini", "spent_usd": 13.8}],
        "overrides": [{"scope": "model", "key": "gpt-4o-mini", "until": "2026-11-22T18:00:00+00:00"}],
    },
    "Every cap with today's spend, utilization and state.",
    nullable=("override_until",),
)

TREND = {"history_days": 13, "trend_usd_per_day": 0.022, "next_30_days_usd": 539.52, "daily_usd": [17.6, 17.9]}
FORECAST = documented(
    {
        "as_of": "2026-11-22T12:00:30+00:00",
        "day": "2026-11-22",
        "method": "linear trend over the last 30 days + 20%",
        "first_day": "2026-11-23",
        "total": TREND,
        "models": [{"model": "gpt-4o-mini", **TREND}],
        "stripe_fees": {"history_days": 13, "trend_usd_per_day": 0.0257, "next_30_days_usd": 89.18},
        "budget": {
            "month": "2026-11",
            "daily_cap_usd": 25.0,
            "month_budget_usd": 750.0,
            "month_to_date_usd": 412.31,
            "projected_month_total_usd": 598.26,
            "runs_out_on": "2026-11-29",
        },
    },
    "The next 30 days by linear trend + 20%, and the day the month's budget runs out (null: it does not).",
    nullable=("runs_out_on",),
)
