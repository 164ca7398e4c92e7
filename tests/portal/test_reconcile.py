"""Nightly Stripe reconciliation: the real `stripe` library asks a loopback Stripe API for the events
the webhooks missed, and the portal applies them through the webhook's own code path."""

import time
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.conf import Conf

from echopilot.registry import declared_jobs
from incidents.models import Incident
from portal import reconcile, stripe_events, tasks
from portal.models import Purchase, ReconcileRun, StripeEvent
from tests.portal import stripe_api
from tests.races import race

pytestmark = pytest.mark.django_db

DAY = 24 * 3600
OUTAGE_CARD_PAYMENTS = 50
OUTAGE_INVOICE_PAYMENTS = 10


@pytest.fixture
def stripe_account(settings):
    with stripe_api.stripe_api() as (state, base):
        settings.STRIPE_API_KEY = stripe_api.API_KEY
        settings.STRIPE_API_BASE = base
        yield state


def _email(n: int) -> str:
    return f"buyer{n:04d}@example.com"


def four_day_outage(state, now: int) -> dict:
    """Two payments the webhook delivered before the outage, then four days of payments of which
    no webhook arrived (Stripe gave up on the older ones, still retries the newer). Returns the
    events by whether they were delivered."""
    delivered, missed = [], []
    for n in range(2):
        delivered += stripe_api.card_payment(n, email=_email(n), amount=4900, created=now - 5 * DAY + n * 60)
    step = 4 * DAY // (OUTAGE_CARD_PAYMENTS + OUTAGE_INVOICE_PAYMENTS)
    for i in range(OUTAGE_CARD_PAYMENTS):
        n = 100 + i
        missed += stripe_api.card_payment(n, email=_email(n), amount=1000 + i, created=now - 4 * DAY + i * step)
    for i in range(OUTAGE_INVOICE_PAYMENTS):
        n = 200 + i
        created = now - 4 * DAY + (OUTAGE_CARD_PAYMENTS + i) * step
        missed += stripe_api.invoice_payment(n, email=_email(n), amount=119000, created=created)
    for stored in delivered:
        state.add(stored, delivered=True)
    for stored in missed:
        state.add(stored, delivered=False)
    state.add(stripe_api.unrelated_event(1, created=now - DAY), delivered=False)
    return {"delivered": delivered, "missed": missed}


def test_after_a_four_day_outage_every_purchase_is_recovered(stripe_account, post_event):
    events = four_day_outage(stripe_account, int(time.time()))
    for delivered in events["delivered"]:
        assert post_event(delivered).status_code == 200
    assert Purchase.objects.count() == 2

    run = reconcile.reconcile()

    assert run.status == ReconcileRun.Status.OK
    assert Purchase.objects.count() == 2 + OUTAGE_CARD_PAYMENTS + OUTAGE_INVOICE_PAYMENTS
    assert len(run.purchases_created) == OUTAGE_CARD_PAYMENTS + OUTAGE_INVOICE_PAYMENTS
    assert run.recovered_by_type == {
        "charge.succeeded": OUTAGE_CARD_PAYMENTS,
        "checkout.session.completed": OUTAGE_CARD_PAYMENTS,
        "invoice.paid": OUTAGE_INVOICE_PAYMENTS,
    }
    assert run.already_applied == len(events["delivered"])
    assert run.unapplied == []
    recovered = Purchase.objects.get(stripe_payment_intent="pi_recon0107")
    assert (recovered.customer.email, recovered.amount, recovered.stripe_charge) == (_email(107), 1007, "ch_recon0107")
    assert Purchase.objects.get(stripe_invoice="in_recon0203").kind == Purchase.INVOICE


def test_webhooks_arriving_after_the_reconciliation_count_nothing_twice(stripe_account, post_event):
    events = four_day_outage(stripe_account, int(time.time()))
    reconcile.reconcile()
    purchases = list(Purchase.objects.order_by("pk").values_list("pk", "amount", "amount_refunded", "status"))
    stored_events = StripeEvent.objects.count()

    answers = [post_event(late).json() for late in events["missed"]]

    assert all(answer["duplicate"] for answer in answers)
    assert list(Purchase.objects.order_by("pk").values_list("pk", "amount", "amount_refunded", "status")) == purchases
    assert StripeEvent.objects.count() == stored_events


def test_a_second_run_recovers_nothing_new(stripe_account):
    four_day_outage(stripe_account, int(time.time()))
    first = reconcile.reconcile()
    purchases = Purchase.objects.count()

    second = reconcile.reconcile()

    assert second.status == ReconcileRun.Status.OK
    assert (second.recovered_by_type, second.purchases_created) == ({}, [])
    assert Purchase.objects.count() == purchases
    assert second.since == first.started - reconcile.OVERLAP


def test_failed_deliveries_are_asked_for_first_and_every_page_is_followed(stripe_account):
    four_day_outage(stripe_account, int(time.time()))

    reconcile.reconcile()

    asked = [request["params"] for request in stripe_account.requests]
    assert asked[0]["delivery_success"] == "false"
    assert "delivery_success" not in asked[-1]
    assert all(sorted(params["types"]) == sorted(reconcile.RECONCILED_TYPES) for params in asked)
    # 110 failed deliveries at 100 a page: the second page starts after the last event of the first.
    assert [params.get("starting_after") is not None for params in asked] == [False, True, False, True]


def test_the_plan_event_of_the_fixture_is_not_asked_for(stripe_account):
    four_day_outage(stripe_account, int(time.time()))

    reconcile.reconcile()

    assert not StripeEvent.objects.filter(type="plan.created").exists()


def test_the_window_starts_where_the_last_run_began_and_never_past_thirty_days():
    now = timezone.now()
    assert reconcile.window_start(None, now) == now - timedelta(days=30)
    assert reconcile.window_start(45, now) == now - timedelta(days=30)
    assert reconcile.window_start(2, now) == now - timedelta(days=2)
    ReconcileRun.objects.create(started=now - timedelta(days=1), since=now - timedelta(days=9), status="ok")
    assert reconcile.window_start(None, now) == now - timedelta(days=1) - reconcile.OVERLAP


def test_after_an_incomplete_run_the_next_asks_again_from_its_start():
    now = timezone.now()
    ReconcileRun.objects.create(started=now - timedelta(days=1), since=now - timedelta(days=6), status="incomplete")
    ReconcileRun.objects.create(started=now - timedelta(hours=2), since=now - timedelta(days=9), status="failed")
    assert reconcile.window_start(None, now) == now - timedelta(days=6)


def test_a_run_given_its_own_window_leaves_the_nightly_starting_point_alone():
    now = timezone.now()
    ReconcileRun.objects.create(started=now - timedelta(days=5), since=now - timedelta(days=6), status="ok")
    ReconcileRun.objects.create(
        started=now - timedelta(hours=1), since=now - timedelta(days=1), window_given=True, status="ok"
    )
    assert reconcile.window_start(None, now) == now - timedelta(days=5) - reconcile.OVERLAP


def test_since_days_limits_what_is_asked_for(stripe_account):
    now = int(time.time())
    four_day_outage(stripe_account, now)

    call_command("stripe_reconcile", "--since", "1")

    asked = stripe_account.requests[0]["params"]
    assert abs(int(asked["created[gte]"]) - (now - DAY)) < 60
    assert Purchase.objects.count() < OUTAGE_CARD_PAYMENTS + OUTAGE_INVOICE_PAYMENTS


def test_the_command_reports_counts_by_type_and_purchases_created(stripe_account, capsys):
    four_day_outage(stripe_account, int(time.time()))

    call_command("stripe_reconcile")

    out = capsys.readouterr().out
    # No webhook of the two payments before the outage arrived here either: they are recovered too.
    assert f"checkout.session.completed {OUTAGE_CARD_PAYMENTS + 2}" in out
    assert f"invoice.paid {OUTAGE_INVOICE_PAYMENTS}" in out
    assert f"{OUTAGE_CARD_PAYMENTS + OUTAGE_INVOICE_PAYMENTS + 2} purchase(s) created" in out


def test_an_event_that_cannot_be_applied_is_reported_and_raises_an_incident(stripe_account, capsys):
    bad = stripe_api.card_payment(900, email="not an address", amount=500, created=int(time.time()) - DAY)[0]
    stripe_account.add(bad, delivered=False)

    call_command("stripe_reconcile")

    run = ReconcileRun.objects.get()
    assert run.status == ReconcileRun.Status.INCOMPLETE
    assert [event["id"] for event in run.unapplied] == ["evt_recon_cs0900"]
    assert "not applied: checkout.session.completed evt_recon_cs0900" in capsys.readouterr().out
    incident = Incident.objects.get(fingerprint="portal:stripe-reconcile-unapplied")
    assert (incident.severity, incident.meta["events"][0]["id"]) == ("ERROR", "evt_recon_cs0900")


def test_a_refused_key_fails_the_run_with_an_incident_and_never_shows_the_key(stripe_account, settings, caplog):
    settings.STRIPE_API_KEY = "rk_test_51WrongKeyNotTheOne"

    with pytest.raises(CommandError, match="AuthenticationError"):
        call_command("stripe_reconcile")

    run = ReconcileRun.objects.get()
    assert run.status == ReconcileRun.Status.FAILED
    assert Incident.objects.filter(fingerprint="portal:stripe-reconcile-failed", severity="ERROR").exists()
    assert "rk_test_51WrongKeyNotTheOne" not in run.error + caplog.text


def test_an_unreachable_stripe_fails_the_run(settings):
    settings.STRIPE_API_KEY = stripe_api.API_KEY
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"

    run = reconcile.reconcile()

    assert (run.status, run.error.split(":")[0]) == (ReconcileRun.Status.FAILED, "APIConnectionError")


def test_without_a_key_the_job_is_off_and_says_so(settings):
    settings.STRIPE_API_KEY = ""

    assert tasks.stripe_reconcile() == "STRIPE_API_KEY is not set: Stripe reconciliation is off"
    with pytest.raises(CommandError, match="STRIPE_API_KEY is not set"):
        call_command("stripe_reconcile")
    assert not ReconcileRun.objects.exists()


def test_since_out_of_range_is_refused():
    with pytest.raises(CommandError, match="between 1 and 30"):
        call_command("stripe_reconcile", "--since", "0")


def test_the_reconciliation_runs_nightly_at_23_50_utc():
    job = next(job for job in declared_jobs() if job.name == "portal_stripe_reconcile")
    assert job.func == "portal.tasks.stripe_reconcile"
    assert (job.daily_at.hour, job.daily_at.minute, job.daily_at.utcoffset()) == (23, 50, timedelta(0))


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def test_the_portal_card_says_the_reconciliation_is_off_without_a_key(staff, settings):
    settings.STRIPE_API_KEY = ""

    page = staff.get("/admin/").content.decode()

    assert "<strong>off</strong>, STRIPE_API_KEY is not set" in page


def test_the_portal_card_and_the_admin_show_the_last_run(staff, stripe_account):
    four_day_outage(stripe_account, int(time.time()))
    reconcile.reconcile()

    page = staff.get("/admin/").content.decode()
    runs = staff.get("/admin/portal/reconcilerun/").content.decode()

    assert f"{len(stripe_account.events) - 1} events recovered, 62 purchases created" in page
    assert "invoice.paid 10" in runs


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_racing_the_late_webhooks_and_a_second_run_applies_each_event_once(stripe_account):
    """The nightly run, an operator's run by hand and Stripe's late deliveries, all at once."""
    missed = four_day_outage(stripe_account, int(time.time()))["missed"]

    def act(who):
        if who == "webhooks":
            return [stripe_events.process(event) for event in missed]
        return reconcile.reconcile()

    results = race(act, ["nightly", "by hand", "webhooks"])

    runs = [result for result in results if isinstance(result, ReconcileRun)]
    deliveries = next(result for result in results if isinstance(result, list))
    fresh_by_webhook = [outcome for outcome in deliveries if not outcome.duplicate]
    applied = sum(run.recovered for run in runs) + len(fresh_by_webhook)
    created = sum(len(run.purchases_created) for run in runs)
    created += sum(outcome.created_purchase for outcome in fresh_by_webhook)
    assert {run.status for run in runs} == {ReconcileRun.Status.OK}
    assert StripeEvent.objects.count() == len(stripe_account.events) - 1
    assert applied == len(stripe_account.events) - 1
    assert created == Purchase.objects.count() == 2 + OUTAGE_CARD_PAYMENTS + OUTAGE_INVOICE_PAYMENTS


def test_the_admin_button_runs_the_reconciliation_through_the_queue(staff, stripe_account, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", True)
    four_day_outage(stripe_account, int(time.time()))
    assert "reconcile-run-now" in staff.get("/admin/portal/reconcilerun/").content.decode()

    page = staff.post("/admin/portal/reconcilerun/run/", follow=True).content.decode()

    assert "Stripe reconciliation queued" in page
    assert ReconcileRun.objects.get().status == ReconcileRun.Status.OK
    assert Purchase.objects.count() == 2 + OUTAGE_CARD_PAYMENTS + OUTAGE_INVOICE_PAYMENTS


def test_the_admin_button_is_off_without_a_key_and_refuses_a_get(staff, settings):
    settings.STRIPE_API_KEY = ""

    assert "Off: STRIPE_API_KEY is not set." in staff.get("/admin/portal/reconcilerun/").content.decode()
    assert staff.get("/admin/portal/reconcilerun/run/").status_code == 403
    page = staff.post("/admin/portal/reconcilerun/run/", follow=True).content.decode()
    assert "Stripe reconciliation is off" in page
    assert not ReconcileRun.objects.exists()


def test_staff_without_the_change_permission_cannot_run_it(staff_with, stripe_account):
    client = staff_with("portal.view_reconcilerun")

    assert client.post("/admin/portal/reconcilerun/run/").status_code == 403
    assert not ReconcileRun.objects.exists()
