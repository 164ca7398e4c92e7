"""Realistic request and response bodies of the incident endpoints, for the OpenAPI schema."""

from echopilot.openapi import documented, request_example

INCIDENT = {
    "id": 412,
    "fingerprint": "3c18f5ec9d7542f49308262ad5f59512",
    "severity": "CRITICAL",
    "source": "checkout",
    "msg": "checkout timeout after 3012 ms",
    "status": "open",
    "count": 3,
    "first_seen": "2026-11-22T03:12:09.114000+00:00",
    "last_seen": "2026-11-22T03:19:44.502000+00:00",
}

INCIDENT_ROW = documented(INCIDENT, "The incident as it stands now.")

INCIDENT_LIST = documented(
    {"incidents": [INCIDENT], "limit": 25, "offset": 0, "total": 1, "more": False},
    "Incidents newest first; `more` says whether another page follows.",
)

INCIDENT_DETAIL = documented(
    {
        **INCIDENT,
        "meta": {"region": "eu-west-1", "pod": "checkout-7d9f"},
        "acknowledged_at": "2026-11-22T03:21:00+00:00",
        "acknowledged_by": "ana (admin)",
        "resolved_at": "2026-11-22T03:40:12+00:00",
        "resolved_by": "ana (admin)",
        "resolve_note": "rolled back 2026.11.21-3",
        "silenced": False,
        "deliveries": [
            {
                "id": 88,
                "channel": "telegram",
                "kind": "page",
                "status": "sent",
                "attempts": 2,
                "created_at": "2026-11-22T03:12:09.200000+00:00",
                "sent_at": "2026-11-22T03:12:12.950000+00:00",
                "last_status": "200",
                "last_error": "",
                "attempt_log": [
                    {
                        "number": 1,
                        "ok": False,
                        "status": "429",
                        "error": "Too Many Requests: retry after 3",
                        "at": "2026-11-22T03:12:09.310000+00:00",
                    }
                ],
            }
        ],
    },
    "The incident, its meta and every page sent for it.",
    nullable=("acknowledged_at", "resolved_at", "sent_at"),
)

RAISE_REQUEST = request_example(
    {
        "severity": "critical",
        "msg": "checkout timeout after 3012 ms",
        "source": "checkout",
        "meta": {"region": "eu-west-1", "pod": "checkout-7d9f"},
    }
)

RAISED_BODY = {
    "id": 412,
    "fingerprint": "3c18f5ec9d7542f49308262ad5f59512",
    "count": 1,
    "severity": "CRITICAL",
    "status": "open",
    "created": True,
    "deduplicated": False,
    "escalated": False,
    "silenced": False,
    "pages": 2,
}
RAISED = documented(
    RAISED_BODY, "201 for a new incident; 200 when it repeats one within the hour (only its count grows)."
)

SUMMARY = documented(
    {
        "since": "2026-11-21T12:00:00+00:00",
        "until": "2026-11-22T12:00:00+00:00",
        "hours": 24,
        "groups": [
            {
                "fingerprint": "3c18f5ec9d7542f49308262ad5f59512",
                "severity": "CRITICAL",
                "source": "checkout",
                "msg": "checkout timeout after 3012 ms",
                "count": 3,
                "incidents": 1,
                "first_seen": "2026-11-22T03:12:09+00:00",
                "last_seen": "2026-11-22T03:19:44+00:00",
                "status": "resolved",
                "pages_sent": 2,
            }
        ],
        "totals": {"INFO": 4, "WARNING": 2, "ERROR": 1, "CRITICAL": 1},
        "open": 3,
    },
    "The last `hours` grouped by fingerprint, with totals by severity.",
)

PAGER_STATUS = documented(
    {
        "open_by_severity": {"CRITICAL": 1, "ERROR": 0, "WARNING": 2, "INFO": 1},
        "channels": [
            {
                "channel": "telegram",
                "configured": True,
                "off_reason": "",
                "broken": False,
                "broken_reason": "",
                "last_ok_at": "2026-11-22T03:12:12+00:00",
                "last_attempt": "sent 2026-11-22 03:12",
                "last_attempt_failed": False,
            }
        ],
        "deliveries_failed_24h": 0,
        "deliveries_pending": 0,
        "recent_deliveries": [
            {
                "id": 88,
                "incident": 412,
                "channel": "telegram",
                "kind": "page",
                "severity": "CRITICAL",
                "subject": "CRITICAL checkout timeout after 3012 ms",
                "status": "sent",
                "attempts": 2,
                "last_status": "200",
                "last_error": "",
                "created_at": "2026-11-22T03:12:09.200000+00:00",
                "sent_at": "2026-11-22T03:12:12.950000+00:00",
            }
        ],
        "active_silences": 1,
    },
    "Open incidents by severity and each channel's state.",
    nullable=("last_ok_at", "sent_at"),
)

WEBHOOK_ANSWER = documented(
    {"raised": [RAISED_BODY], "resolved": 1},
    "What each firing alert raised, and how many incidents resolved alerts closed.",
)

EVENT_ANSWER = documented(
    {"status": "success", "message": "Event processed", "dedup_key": "srv01/HTTP"},
    "As PagerDuty's Events API v2 answers (202).",
)

RESOLVE_REQUEST = request_example({"note": "rolled back 2026.11.21-3"})
