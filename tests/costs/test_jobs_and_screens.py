"""The hourly job and its command, the admin screens, the dashboard card and the demo data."""

from datetime import timedelta
from decimal import Decimal

import orjson
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from costs import demo, record_spend
from costs.models import SpendEntry
from costs.schedules import SCHEDULES
from costs.services import set_cap, status

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def test_the_command_appends_a_tick_and_rewrites_the_snapshot(caps, log_dir, capsys):
    record_spend(model="gpt-4o", usd=Decimal("9.5"))
    call_command("cost_guardrails")
    assert "cap(s) checked" in capsys.readouterr().out
    ticks = [orjson.loads(line) for line in (log_dir / "costs.ndjson").read_bytes().splitlines()]
    assert ticks[-1]["event"] == "cost_tick"
    snapshot = orjson.loads((log_dir / "costs.json").read_bytes())
    assert {(c["key"], c["state"]) for c in snapshot["caps"]} >= {("gpt-4o", "warn")}
    assert "budget" in snapshot["forecast"]


def test_the_jobs_run_hourly_and_the_sealing_every_minute():
    jobs = {job.name: (job.func, job.minutes) for job in SCHEDULES}
    assert jobs == {
        "cost_guardrails": ("costs.tasks.cost_guardrails_tick", 60),
        "costs_audit_seal": ("costs.tasks.seal_audit_trail", 1),
    }


@pytest.mark.parametrize(
    "model", ["costcap", "modelprice", "modelfallback", "capoverride", "spendentry", "dailycounter", "capalert"]
)
def test_every_admin_screen_opens(staff_client, caps, model):
    record_spend(model="gpt-4o", usd=Decimal("9.5"))
    assert staff_client.get(f"/admin/costs/{model}/").status_code == 200


def test_the_ledger_filters_by_day_model_and_kind(staff_client, caps):
    record_spend(model="gpt-4o", usd=Decimal(1), request_id="keep-me")
    record_spend(model="gpt-4o-mini", usd=Decimal(1), request_id="other-model")
    record_spend(kind="stripe_fee", usd=Decimal(1), request_id="stripe:fee")
    day = timezone.now().date().isoformat()
    page = staff_client.get(f"/admin/costs/spendentry/?day={day}&kind=ai&model=gpt-4o").content.decode()
    assert "keep-me" in page and "other-model" not in page and "stripe:fee" not in page


def test_the_dashboard_card_shows_bars_and_the_set_cap_form(staff_client, caps):
    record_spend(model="gpt-4o-mini", usd=Decimal(5))
    page = staff_client.get("/admin/").content.decode()
    assert 'id="card-costs"' in page
    assert 'class="ep-bar ep-state-throttle"' in page  # gpt-4o-mini at 100%
    assert "ep-cost-set-cap" in page
    assert "within budget" in page or "runs out" in page


def test_demo_data_loads_twice_without_counting_twice(caps):
    now = timezone.now()
    first = demo.load(now)
    count, total = SpendEntry.objects.count(), sum(SpendEntry.objects.values_list("usd_micros", flat=True))
    assert first.startswith(f"{count} new spend reports")
    assert demo.load(now).startswith("0 new spend reports")
    assert SpendEntry.objects.count() == count
    assert sum(SpendEntry.objects.values_list("usd_micros", flat=True)) == total
    assert len(set(SpendEntry.objects.values_list("day", flat=True))) == 14
    near = {c["key"]: c for c in status(now)["caps"]}["gpt-4o-mini"]
    assert near["state"] == "warn" and 90 <= near["utilization_pct"] < 100
    assert "gpt-4o-mini" in first


def test_ending_an_override_from_the_admin_applies_the_cap_again(staff_client, caps):
    from datetime import timedelta

    from costs import authorize
    from costs.models import CapOverride
    from costs.services import set_cap

    set_cap("model", "0", "gpt-4.1-nano")
    record_spend(model="gpt-4o-mini", usd=Decimal(5))
    override = CapOverride.objects.create(scope="model", key="gpt-4o-mini", until=timezone.now() + timedelta(hours=1))
    assert authorize("gpt-4o-mini").decision == "allow"
    response = staff_client.post(
        "/admin/costs/capoverride/", {"action": "end_now", "_selected_action": [override.pk]}, follow=True
    )
    assert "Ended 1 override" in response.content.decode()
    assert authorize("gpt-4o-mini").decision == "throttle"


def test_prometheus_shows_spend_and_utilization(client, caps):
    record_spend(model="gpt-4o", usd=Decimal("9.5"))
    body = client.get("/metrics").content.decode()
    assert 'echopilot_cost_cap_utilization_ratio{key="gpt-4o",scope="model"} 0.95' in body
    assert 'echopilot_cost_spend_usd_total{kind="ai"} 9.5' in body
    assert 'key=""' not in body


def test_the_ledger_page_lists_newest_first_and_finds_an_exact_request_id(staff_client, caps, now):
    record_spend(model="gpt-4o", usd=Decimal(1), request_id="first-recorded", ts=now, now=now)
    record_spend(model="embeddings", usd=Decimal(1), request_id="recorded-later", ts=now - timedelta(hours=3), now=now)
    page = staff_client.get("/admin/costs/spendentry/").content.decode()
    assert page.index("recorded-later") < page.index("first-recorded")  # by when recorded, not by ts
    assert "?model=embeddings" in page and "?model=gpt-4o" in page  # the filter's choices, from the counters
    found = staff_client.get("/admin/costs/spendentry/?q=recorded-later").content.decode()
    assert "recorded-later" in found and "first-recorded" not in found
    assert "first-recorded" not in staff_client.get("/admin/costs/spendentry/?q=first").content.decode()


def test_no_ledger_page_query_reads_the_whole_ledger(staff_client, caps):
    record_spend(model="gpt-4o", usd=Decimal(1), request_id="r-1")
    with CaptureQueriesContext(connection) as queries:
        for url in (
            "/admin/costs/spendentry/",
            "/admin/costs/spendentry/?model=gpt-4o&kind=ai",
            "/admin/costs/spendentry/?q=r-1",
            "/admin/costs/spendentry/?day__gte=2026-11-01",
        ):
            assert staff_client.get(url).status_code == 200
    ledger = [q["sql"].upper() for q in queries.captured_queries if SpendEntry._meta.db_table in q["sql"]]
    assert ledger and not [sql for sql in ledger if "DISTINCT" in sql or "LIKE" in sql]
    assert all("ORDER BY" not in sql or '"ID" DESC' in sql for sql in ledger)
    assert all("LIMIT" in sql for sql in ledger if "COUNT(" in sql)  # the page count stops at its cap


def test_a_ledger_past_the_count_cap_says_more_than(staff_client, caps, monkeypatch):
    from costs.admin import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "CAP", 2)
    for i in range(3):
        record_spend(model="gpt-4o", usd=Decimal(1), request_id=f"r-{i}")
    assert "More than 2 spend ledger" in staff_client.get("/admin/costs/spendentry/").content.decode()
    page = staff_client.get("/admin/costs/spendentry/?q=r-1").content.decode()
    assert "1 spend entry" in page and "More than" not in page


def test_a_view_only_user_is_neither_offered_nor_allowed_the_actions(staff_with, caps):
    from costs.models import CapAlert, CapOverride

    record_spend(model="gpt-4o", usd=Decimal(10))  # the 90% and 100% alerts of gpt-4o
    CapAlert.objects.update(raised=None)
    override = CapOverride.objects.create(scope="model", key="gpt-4o", until=timezone.now() + timedelta(hours=1))
    viewer = staff_with("costs.view_capoverride", "costs.view_capalert")
    for url, action, pk in [
        ("/admin/costs/capoverride/", "end_now", override.pk),
        ("/admin/costs/capalert/", "raise_again", CapAlert.objects.first().pk),
    ]:
        page = viewer.get(url)
        assert page.status_code == 200 and f'value="{action}"' not in page.content.decode()
        viewer.post(url, {"action": action, "_selected_action": [pk]})
    override.refresh_from_db()
    assert override.is_active()
    assert not CapAlert.objects.filter(raised__isnull=False).exists()


def test_a_staff_user_without_permissions_cannot_open_the_alerts(staff_with, caps):
    assert staff_with().get("/admin/costs/capalert/").status_code == 403


def test_lowering_a_cap_in_the_admin_raises_its_alert_at_once(staff_client, caps):
    from costs.models import CapAlert, CostCap

    record_spend(model="gpt-4o", usd=Decimal(8))  # 80% of $10
    cap = CostCap.objects.get(scope="model", key="gpt-4o")
    response = staff_client.post(
        f"/admin/costs/costcap/{cap.pk}/change/", {"scope": "model", "key": "gpt-4o", "usd_cap": "8.5"}
    )
    assert response.status_code == 302, response.content
    assert CapAlert.objects.filter(key="gpt-4o", level=90).exists()


@pytest.mark.parametrize(
    "form, field",
    [
        ({"scope": "daily", "key": "gpt-4o", "until_0": "2099-01-01", "until_1": "00:00:00"}, "key"),
        ({"scope": "model", "key": "gpt-4o", "until_0": "2020-01-01", "until_1": "00:00:00"}, "until"),
        ({"scope": "model", "key": "gpt-4o", "until_0": "9999-12-31", "until_1": "00:00:00"}, "until"),
    ],
)
def test_an_override_that_would_not_do_what_was_meant_is_refused(staff_client, caps, form, field):
    from costs.models import CapOverride

    response = staff_client.post("/admin/costs/capoverride/add/", form)
    assert response.status_code == 200  # the form again, with the error
    assert field in response.context["adminform"].form.errors
    assert not CapOverride.objects.exists()


def test_amounts_show_as_typed_to_the_cent_not_as_the_columns_six_places(staff_client, caps):
    from costs.models import CostCap

    response = staff_client.post(
        "/admin/costs/costcap/add/", {"scope": "model", "key": "o3", "usd_cap": "1e5"}, follow=True
    )
    page = response.content.decode()
    assert "o3: $100,000.00/day" in page and "1E+5" not in page
    CostCap.objects.filter(key="gpt-4o").update(usd_cap=Decimal("21.3425"))
    listing = staff_client.get("/admin/costs/costcap/").content.decode()
    assert 'value="21.3425"' in listing and 'value="100000.00"' in listing and "21.342500" not in listing


def test_a_fallback_that_closes_a_loop_is_refused(staff_client, caps):
    from costs.models import ModelFallback

    # caps: gpt-4o -> gpt-4o-mini -> gpt-4.1-nano
    response = staff_client.post("/admin/costs/modelfallback/add/", {"model": "gpt-4.1-nano", "fallback": "gpt-4o"})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["fallback"]
    assert errors == ["this makes a loop: gpt-4.1-nano -> gpt-4o -> gpt-4o-mini -> gpt-4.1-nano"]
    assert not ModelFallback.objects.filter(model="gpt-4.1-nano").exists()
    ok = staff_client.post("/admin/costs/modelfallback/add/", {"model": "gpt-4.1-nano", "fallback": "embeddings"})
    assert ok.status_code == 302


def test_demo_loads_again_after_the_near_cap_models_cap_changed(caps):
    now = timezone.now()
    demo.load(now)
    set_cap("model", "7", "gpt-4o-mini")  # today's near-cap amount follows the cap
    assert demo.load(now).startswith("0 new spend reports")


def test_the_demo_says_where_the_near_cap_model_really_stands(caps):
    now = timezone.now()
    record_spend(model="gpt-4o-mini", usd=Decimal("0.50"), ts=now, now=now)  # spend of its own today
    message = demo.load(now)
    assert message.endswith("gpt-4o-mini at 102% of its $5.00 cap today")
    assert demo.load(now).endswith("gpt-4o-mini at 102% of its $5.00 cap today")


def test_an_override_made_in_the_admin_is_logged_with_its_maker_and_reason(staff_client, caps, log_dir):
    until = timezone.now() + timedelta(days=1)
    form = {
        "scope": "model",
        "key": "gpt-4o",
        "until_0": f"{until:%Y-%m-%d}",
        "until_1": "00:00:00",
        "reason": "launch",
    }
    response = staff_client.post("/admin/costs/capoverride/add/", form)
    assert response.status_code == 302
    events = [orjson.loads(line) for line in (log_dir / "costs.ndjson").read_bytes().splitlines()]
    line = [e for e in events if e["event"] == "cap_override"][-1]
    assert (line["key"], line["by"], line["reason"]) == ("gpt-4o", "ops", "launch")
