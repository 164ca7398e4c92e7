"""Demo customers and purchases for `manage.py demo`; running it again changes nothing."""

from datetime import timedelta

from .models import Purchase
from .services import upsert_customer

DEMO = [
    # email, name, [(days ago, kind, description, cents, refunded cents, number)]
    (
        "qa@echopilot.ai",
        "QA Team",
        [
            (2, Purchase.RECEIPT, "EchoPilot Pro, monthly", 4900, 0, "R-1041"),
            (33, Purchase.INVOICE, "EchoPilot Pro, monthly", 4900, 0, "INV-0207"),
        ],
    ),
    (
        "ana.lima@example.com",
        "Ana Lima",
        [
            (5, Purchase.RECEIPT, "Automation credits, 1,000 runs", 1900, 0, "R-1038"),
            (12, Purchase.RECEIPT, "Automation credits, 5,000 runs", 7900, 7900, "R-1022"),
        ],
    ),
    (
        "ops@northwind.example",
        "Northwind Ops",
        [
            (1, Purchase.INVOICE, "EchoPilot Team, annual", 119000, 0, "INV-0212"),
        ],
    ),
]


def load(now) -> str:
    created = 0
    for email, name, purchases in DEMO:
        customer = upsert_customer(email, name)
        for days, kind, description, cents, refunded, number in purchases:
            status = Purchase.REFUNDED if refunded >= cents else Purchase.PAID
            _, was_created = Purchase.objects.update_or_create(
                stripe_charge=f"ch_demo_{number}",
                defaults={
                    "customer": customer,
                    "kind": kind,
                    "description": description,
                    "amount": cents,
                    "amount_refunded": refunded,
                    "currency": "usd",
                    "status": status,
                    "purchased_at": now - timedelta(days=days),
                    "number": number,
                },
            )
            created += was_created
    return f"{len(DEMO)} customers, {sum(len(p) for _, _, p in DEMO)} purchases (1 refunded), {created} new"
