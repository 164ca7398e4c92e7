"""Realistic request and response bodies of the portal endpoints, for the OpenAPI schema."""

from echopilot.openapi import documented, request_example

RECEIPTS = documented(
    {
        "email": "ana.lima@example.com",
        "known": True,
        "unsubscribed": False,
        "link_ttl_hours": 24,
        "receipts": [
            {
                "id": 3,
                "number": "R-1038",
                "kind": "receipt",
                "description": "Automation credits, 1,000 runs",
                "amount": "19.00",
                "currency": "usd",
                "status": "paid",
                "purchased_at": "2026-11-21T09:31:26+00:00",
                "download_url": "https://console.example.com/api/portal/download?token=eyJwIjozLCJjIjoy...",
                "expires": "2026-11-23T09:33:20+00:00",
            }
        ],
    },
    "The customer's purchases, newest first, each with a signed link (an unknown email: known false, none).",
)

REVOKE_REQUEST = request_example({"email": "ana.lima@example.com"})
REVOKED = documented(
    {"email": "ana.lima@example.com", "link_generation": 2, "revoked_at": "2026-11-22T12:00:30+00:00"},
    "Every link issued so far to the customer now fails.",
)

STRIPE_EVENT = {
    "type": "object",
    "description": "A Stripe event (checkout.session.completed, charge.succeeded, charge.refunded, invoice.paid...)",
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["event"]},
        "type": {"type": "string"},
        "created": {"type": "integer"},
        "data": {"type": "object", "properties": {"object": {"type": "object"}}},
    },
    "required": ["id", "type", "data"],
}
STRIPE_REQUEST = request_example(
    {
        "id": "evt_1Pq1checkout",
        "object": "event",
        "type": "charge.succeeded",
        "created": 1795348800,
        "data": {"object": {"id": "ch_3Pq1", "object": "charge", "amount": 4900, "currency": "usd"}},
    }
)
STRIPE_RECEIVED = documented(
    {
        "received": True,
        "id": "evt_1Pq1checkout",
        "type": "charge.succeeded",
        "duplicate": False,
        "detail": "purchase 1846-2213",
    },
    "Applied once: a redelivered event answers duplicate true and changes nothing.",
)

ACTIVITY_STORED = documented(
    {"accepted": 3, "user_days": 2, "late_days": ["2026-12-04"], "stale": 1},
    "The batch was stored whole: events, distinct user-days, and earlier days now marked for a recount.",
)

RETENTION = documented(
    {
        "days": 30,
        "series": [{"day": "2026-12-05", "dau": 412, "wau": 1630, "mau": 4877, "stale": False}],
    },
    "DAU, WAU and MAU per day, oldest first.",
)
