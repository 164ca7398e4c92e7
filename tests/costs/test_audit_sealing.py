"""The ledger's rows in the audit chain: usage reports and holds made through the fast path record
who and from where on their rows, and are chained in bulk by costs.sealing, each exactly once."""

from collections import Counter
from decimal import Decimal

import pytest
from django.core.management import call_command

from costs import authorize, reservations, sealing, spend_cache
from costs.models import CapReservation, ModelPrice, SpendEntry
from costs.services import record_spend, set_cap
from echopilot import audit
from echopilot.models import AuditEntry, JobRun
from tests.costs.test_fast_path import call, django_only, served
from tests.races import race

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("connection_stays_open")]

MODEL = "claude-haiku"  # no fallback; priced below, capped at $1 so every call is near the cap
ADDRESS = "203.0.113.9"


@pytest.fixture
def near_cap(caps, settings):
    """The shipped margins and a $1 cap: every authorize of MODEL holds its estimate."""
    settings.COST_RESERVE_CALLS = 200
    settings.COST_RESERVE_HEADROOM_PCT = 10
    settings.COST_RESERVATION_TTL_S = 300
    spend_cache.reset()
    ModelPrice.objects.update_or_create(model=MODEL, defaults={"input_per_mtok": 1, "output_per_mtok": 5})
    set_cap("model", "1.00", MODEL)


def fast(path, body, key):
    return call(served, path, body, key=key, REMOTE_ADDR=ADDRESS)


def chained(model) -> Counter:
    """(object_id, action) -> how many entries the chain holds for rows of `model`."""
    return Counter(AuditEntry.objects.filter(app_label="costs", model=model).values_list("object_id", "action"))


# --- the fast path ----------------------------------------------------------------------------------------------


def test_fast_path_writes_are_chained_by_the_sealer_with_the_keys_name_and_address(admin_key, near_cap, drf_dispatches):
    assert fast("/api/costs/authorize", {"model": MODEL, "est_usd": "0.05"}, admin_key).json()["reserved_usd"]
    report = {"model": MODEL, "usd": "0.05", "request_id": "call-1"}
    assert fast("/api/costs/usage", report, admin_key).status_code == 200
    assert drf_dispatches == []  # both answered in front of Django
    spend, hold = SpendEntry.objects.get(), CapReservation.objects.get()
    # Written fast, chained later: who and from where are on the rows; the chain has nothing yet.
    for row in (spend, hold):
        assert (row.actor, row.address, row.audit_pending) == ("key:test-admin", ADDRESS, True)
    assert hold.settled is not None  # the report settled it; kept until the chain has it
    assert not AuditEntry.objects.exists()

    assert sealing.seal_all() == 2

    entries = {e.model: e for e in AuditEntry.objects.all()}
    assert set(entries) == {"spendentry", "capreservation"}
    for row in (spend, hold):
        entry = entries[row._meta.model_name]
        assert (entry.actor, entry.address, entry.action, entry.app_label, entry.object_id) == (
            "key:test-admin",
            ADDRESS,
            "create",
            "costs",
            str(row.pk),
        )
        assert entry.at == row.created
    assert {"request_id", "usd_micros", "actor", "address"} <= set(entries["spendentry"].fields.split(","))
    assert audit.verify_chain() == {"ok": True, "checked": 2, "break": None}
    assert not SpendEntry.objects.filter(audit_pending=True).exists()

    assert sealing.seal_all() == 0  # sealing again adds nothing
    assert AuditEntry.objects.count() == 2 and audit.verify_chain()["ok"]


def test_a_settled_hold_stops_counting_and_is_deleted_only_once_chained(near_cap, now):
    with audit.writing_as("key:script", ADDRESS):
        record_spend(model=MODEL, usd=Decimal("0.85"), now=now, ts=now)
        assert authorize(MODEL, Decimal("0.05"), now=now).decision == "warn"
        record_spend(model=MODEL, usd=Decimal("0.05"), now=now, ts=now)  # settles the hold
        # $0.90 spent: a settled hold still counted would make this call reach the cap.
        assert authorize(MODEL, Decimal("0.05"), now=now).decision == "warn"
    settled = CapReservation.objects.get(settled__isnull=False)

    reservations.expire(now)
    assert CapReservation.objects.filter(pk=settled.pk).exists()  # not chained yet: kept

    sealing.seal_all()
    reservations.expire(now)
    assert not CapReservation.objects.filter(pk=settled.pk).exists()
    assert chained("capreservation")[(str(settled.pk), "create")] == 1


def test_writes_outside_the_api_owe_the_chain_nothing(near_cap, now):
    record_spend(model=MODEL, usd=Decimal("0.10"), now=now, ts=now)  # a Stripe fee, the demo, a shell
    authorize(MODEL, Decimal("0.05"), now=now)
    assert not SpendEntry.objects.filter(audit_pending=True).exists()
    assert not CapReservation.objects.filter(audit_pending=True).exists()
    assert sealing.seal_all() == 0


def test_audit_verify_chains_what_the_fast_path_wrote_before_walking(admin_key, caps):
    for n in range(3):
        fast("/api/costs/usage", {"model": "gpt-4o", "usd": "0.10", "request_id": f"r-{n}"}, admin_key)

    call_command("audit_verify")

    run = JobRun.objects.get(name="audit_verify")
    assert run.summary == "3 audit entries, the chain holds"
    ids = {str(pk) for pk in SpendEntry.objects.values_list("pk", flat=True)}
    assert set(AuditEntry.objects.values_list("object_id", flat=True)) == ids


# --- through Django: chained once --------------------------------------------------------------------------------


def test_a_usage_report_through_django_is_chained_once(admin_key, caps, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer = call(
            django_only, "/api/costs/usage", {"model": "gpt-4o", "usd": "0.5"}, key=admin_key, REMOTE_ADDR=ADDRESS
        )
    assert answer.status_code == 200
    # The ledger's SQL sends no model signal, and the request is not chained as a bare `request`
    # entry either: its row is, by the sealer.
    assert not AuditEntry.objects.exists()

    sealing.seal_all()

    row = SpendEntry.objects.get()
    entry = AuditEntry.objects.get()
    assert (entry.model, entry.object_id, entry.actor, entry.address) == (
        "spendentry",
        str(row.pk),
        "key:test-admin",
        ADDRESS,
    )


def test_a_hold_made_through_django_is_chained_by_the_signals_and_not_sealed_again(
    admin_key, near_cap, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        call(django_only, "/api/costs/authorize", {"model": MODEL, "est_usd": "0.05"}, key=admin_key)
        hold = CapReservation.objects.get()
        call(django_only, "/api/costs/usage", {"model": MODEL, "usd": "0.05"}, key=admin_key)
    assert hold.audit_pending is False and hold.actor == "key:test-admin"

    sealing.seal_all()

    spend = SpendEntry.objects.get()
    assert chained("capreservation") == {(str(hold.pk), "create"): 1, (str(hold.pk), "delete"): 1}
    assert chained("spendentry") == {(str(spend.pk), "create"): 1}
    assert not AuditEntry.objects.filter(action="request").exists()
    assert audit.verify_chain()["ok"]


# --- two sealers at once (PostgreSQL) ----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_sealers_chain_each_row_once_in_one_unbroken_chain(caps, near_cap):
    with audit.writing_as("key:script", ADDRESS):
        for n in range(120):
            record_spend(model="gpt-4o", usd=Decimal("0.01"), request_id=f"race-{n}")
        for _ in range(10):
            authorize(MODEL, Decimal("0.01"))
    rows = {
        "spendentry": {str(pk) for pk in SpendEntry.objects.filter(audit_pending=True).values_list("pk", flat=True)},
        "capreservation": {
            str(pk) for pk in CapReservation.objects.filter(audit_pending=True).values_list("pk", flat=True)
        },
    }
    assert len(rows["spendentry"]) == 120 and len(rows["capreservation"]) == 10

    # Small batches, so the sealers take turns on the head many times over the same pending rows.
    sealed = race(lambda _: sealing.seal_all(batch=10), range(4))

    assert sum(sealed) == 130
    for model, pks in rows.items():
        counts = chained(model)
        assert set(counts) == {(pk, "create") for pk in pks} and set(counts.values()) == {1}, model
    assert audit.verify_chain() == {"ok": True, "checked": 130, "break": None}
    assert list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, 131))
    assert not SpendEntry.objects.filter(audit_pending=True).exists()
