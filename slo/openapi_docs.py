"""Realistic request and response bodies of the SLO and deploy-gate endpoints, for the OpenAPI schema."""

from echopilot.openapi import documented, request_example

SAMPLE = {
    "type": "object",
    "description": "One request a service answered.",
    "properties": {
        "ts": {
            "description": "when it was answered: ISO 8601, or epoch seconds",
            "oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
        },
        "latency_ms": {"type": "number", "minimum": 0, "description": "time to answer, in milliseconds"},
        "status": {"type": "integer", "minimum": 100, "maximum": 599, "description": "the HTTP status answered"},
        "route": {"type": "string", "maxLength": 200, "description": "the route template, e.g. /checkout/{id}"},
        "service": {
            "type": "string",
            "maxLength": 100,
            "description": "the service (letters, digits, . _ -); defaults to the batch's or ?service=",
        },
    },
    "required": ["ts", "latency_ms", "status"],
}

INGEST_BODY = {
    "type": "object",
    "properties": {
        "service": {"type": "string", "maxLength": 100, "description": "the service of samples that name none"},
        "samples": {"type": "array", "maxItems": 10000, "items": SAMPLE},
    },
    "required": ["samples"],
}

INGEST_NDJSON = {"type": "string", "description": "NDJSON: one sample object (see Sample) a line, up to 10,000 lines"}

INGEST_REQUEST = request_example(
    {
        "service": "shop",
        "samples": [
            {"ts": "2026-11-22T12:00:01.250Z", "latency_ms": 182.4, "status": 200, "route": "/checkout"},
            {"ts": 1795348802.1, "latency_ms": 1312.0, "status": 503, "route": "/checkout", "service": "shop"},
        ],
    }
)

INGESTED = documented(
    {"accepted": 2, "rows": 2},
    "Samples stored, and the rollup rows written: the minute rows of the batch, plus the hour and day rows"
    " of hours it closed or late samples it added to.",
)

WINDOW = {"start": "2026-11-21T12:01:00+00:00", "end": "2026-11-22T12:01:00+00:00"}
GATE_OPEN = {"gate": "open", "reason": "", "shuts": []}
STATUS_BODY = {
    "slo": "shop",
    "service": "shop",
    "route": "",
    "period": "24h",
    "window": WINDOW,
    "requests": 133980,
    "errors": 412,
    "error_rate": 0.003075,
    "p95_ms": 612.5,
    "p99_ms": 1104.2,
    "mean_ms": 187.9,
    "burn": 0.31,
    "burn_by_objective": {"errors": 0.31, "p95": 0.12, "p99": 0.04},
    "burn_alert": "OK",
    "enough_events": True,
    "daily_burn": 0.31,
    "weekly_burn": 0.22,
    "remaining_budget_pct": 87.4,
    "budget_window": {
        "start": "2026-10-23T13:00:00+00:00",
        "end": "2026-11-22T12:01:00+00:00",
        "days": 30,
        "requests": 3901223,
    },
    "objectives": {
        "p95_ms": 800.0,
        "p99_ms": 1200.0,
        "error_budget_pct": 1.0,
        "window_days": 30,
        "error_statuses": "5xx",
        "min_events": 100,
    },
    "baseline_at": "2026-11-01T09:00:00+00:00",
    "generated_at": "2026-11-22T12:00:30+00:00",
}
NULLABLE = ("p95_ms", "p99_ms", "mean_ms", "remaining_budget_pct", "baseline_at")

STATUS = documented(
    {**STATUS_BODY, "gate": GATE_OPEN},
    "p95, p99, error rate, burn (OK, WATCH, WARNING, CRITICAL or NO_DATA) and the budget left.",
    nullable=NULLABLE,
)

BUDGET = documented(
    {
        **STATUS_BODY,
        "budget": {
            "start": "2026-10-23T13:00:00+00:00",
            "end": "2026-11-22T12:01:00+00:00",
            "requests": 3901223,
            "objectives": [
                {
                    "objective": "errors",
                    "budget_share": 0.01,
                    "allowed": 39012.2,
                    "spent": 4921,
                    "remaining": 34091.2,
                    "remaining_pct": 87.4,
                }
            ],
            "series": [{"t": "2026-10-23T13:00:00+00:00", "remaining_pct": 100.0}],
        },
        "gate": GATE_OPEN,
    },
    "The 24h status with each objective's budget over the window and its daily graph.",
    nullable=NULLABLE,
)

REBASELINED = documented(STATUS_BODY, "The status from the new baseline.", nullable=NULLABLE)

SHUT = {
    "gate": "shut",
    "reason": "SLO shop burned its error budget above 2x for 2 hours",
    "shuts": [
        {
            "id": 7,
            "slo": "shop",
            "shut_at": "2026-11-22T04:10:00+00:00",
            "reason": "burn 2.41x above 2x for 2 hours",
            "burn": 2.41,
        }
    ],
}
GATE = documented(GATE_OPEN, "The gate is open: deploys may go ahead.")
GATE_SHUT = documented(SHUT, "The gate is shut: the reason, and each shut holding it.")
LIFTED = documented({"lifted": 1, **GATE_OPEN}, "How many shuts were lifted, and the gate now.")
LIFT_REQUEST = request_example({"note": "rolled back 2026.11.21-3; error rate back under 0.2%"})

OPENSLO = documented(
    [
        {
            "apiVersion": "openslo/v1",
            "kind": "SLO",
            "metadata": {"name": "shop", "displayName": "shop", "annotations": {"echopilot.ai/error-statuses": "5xx"}},
            "spec": {
                "service": "shop",
                "timeWindow": [{"duration": "30d", "isRolling": True}],
                "budgetingMethod": "Occurrences",
                "objectives": [
                    {"displayName": "availability", "target": 0.99},
                    {"displayName": "p95 latency", "op": "lte", "value": 800.0, "target": 0.95},
                ],
            },
        }
    ],
    "Every SLO as an OpenSLO v1 document (YAML with ?format=yaml).",
)
