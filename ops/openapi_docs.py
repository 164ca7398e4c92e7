"""Realistic response bodies of the ops endpoints, for the OpenAPI schema."""

from echopilot.openapi import documented

CHECK = {
    "status": "warn",
    "at": "2026-11-22T03:00:00.120000+00:00",
    "duration_ms": 412,
    "checks": [
        {"name": "database", "status": "ok", "detail": "postgresql: wrote and read a row", "duration_ms": 3},
        {
            "name": "host_clocks",
            "status": "warn",
            "detail": "off the database clock: worker-2 (tasks) 4.2 s ahead (tolerance 2 s, fail past 6 s); "
            "within it: web-1, web-2, worker-1",
            "duration_ms": 2,
        },
        {"name": "qcluster", "status": "ok", "detail": "a qcluster ran the heartbeat in 0.4 s", "duration_ms": 402},
        {"name": "pager", "status": "warn", "detail": "no pager channel is configured", "duration_ms": 2},
    ],
    "incident": 418,
}
OPS_CHECK = documented(
    CHECK, "Every check's verdict (ok, warn, fail); 503 with Retry-After when one fails.", ("incident",)
)

RECOVERED = documented(
    {
        "run": 12,
        "at": "2026-11-22T03:01:00+00:00",
        "dry_run": False,
        "trigger": "api (ops-ci)",
        "incident": 419,
        "actions": [{"action": "requeue", "target": "portal: receipts link", "outcome": "requeued"}],
    },
    "What the recovery did (or, with dry_run, would do).",
    ("incident",),
)

UPTIME = documented(
    {
        "checks": [
            {
                "name": "shop-home",
                "target": "https://shop.example.com/",
                "kind": "http",
                "enabled": True,
                "state": "up",
                "failures_in_a_row": 0,
                "strikes": 0,
                "last_checked_at": "2026-11-22T03:00:00+00:00",
                "last_latency_ms": 182.4,
                "last_error": "",
                "availability_24h_pct": 99.93,
                "availability_30d_pct": 99.71,
                "slo_service": "uptime-shop-home",
            }
        ]
    },
    "Every uptime check with its state and availability.",
    ("last_checked_at", "last_latency_ms", "availability_24h_pct", "availability_30d_pct"),
)

PROBED = documented(
    {"url": "https://shop.example.com/", "ok": True, "latency_ms": 182.4, "status_code": 200, "error": ""},
    "One probe's result; nothing is stored.",
    ("status_code",),
)

DR_LAST = documented(
    {
        "started": "2026-12-06T01:00:03+00:00",
        "ok": True,
        "summary": "echopilot-20261206-003000Z.tar.gz: 41 tables match, RTO 2.4 s, RPO 12 s",
        "backup": "echopilot-20261206-003000Z.tar.gz",
        "backup_created": "2026-12-06T00:30:00+00:00",
        "engine": "postgresql",
        "rto_s": 2.417,
        "rpo_s": 12.0,
        "newest_row": "2026-12-06T00:29:48+00:00",
        "tables": {"costs_costcap": {"manifest": 3, "restored": 3, "ok": True}},
        "mismatches": [],
    },
    "The latest drill: the backup restored into a scratch database, each table's rows compared.",
    nullable=("rpo_s", "newest_row", "restored"),
)
