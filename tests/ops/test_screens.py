"""The admin screens and the dashboard card of the ops app."""

from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from ops import checks, recovery, uptime
from ops.models import OpsCheckRun, UptimeCheck
from slo.models import Slo


def check_form(**fields):
    return {
        "name": "shop", "target": "https://shop.example.com/health", "method": "GET", "expected_status": 200,
        "keyword": "", "timeout_s": 10, "interval_s": 60, "strikes": 2, "enabled": "on", **fields,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"target": "ftp://shop.example.com/"}, "target"),
        ({"target": "shop.example.com"}, "target"),
        ({"target": "gopher://x:70"}, "target"),
        ({"expected_status": 42}, "expected_status"),
        ({"timeout_s": -1}, "timeout_s"),
        ({"interval_s": "often"}, "interval_s"),
        ({"strikes": 0}, "strikes"),
        ({"name": "no spaces please"}, "name"),
        ({"target": "db.internal:5432", "keyword": "ok"}, "keyword"),
        ({"method": "HEAD", "keyword": "ok"}, "keyword"),
    ],
)
def test_a_bad_uptime_check_is_a_form_error_not_a_500(admin_client, fields, field):
    response = admin_client.post("/admin/ops/uptimecheck/add/", check_form(**fields))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not UptimeCheck.objects.exists()


def test_creating_a_check_offers_its_slo_with_the_default_objectives(admin_client, settings):
    response = admin_client.post("/admin/ops/uptimecheck/add/", check_form(), follow=True)
    assert response.status_code == 200
    check = UptimeCheck.objects.get()
    assert check.interval_s == settings.UPTIME_INTERVAL_SEC and check.strikes == settings.UPTIME_STRIKES
    [offer] = [str(m) for m in get_messages(response.wsgi_request) if "Create its SLO" in str(m)]
    url = offer.split('href="')[1].split('"')[0].replace("&amp;", "&")
    initial = dict(parse_qsl(urlsplit(url).query))
    assert initial["service"] == "uptime:shop" and float(initial["p95_ms"]) == settings.SLO_LAT_P95_MS

    change = f"/admin/ops/uptimecheck/{check.pk}/change/"
    assert "none yet" in admin_client.get(change).content.decode()

    # The offered form, sent as it comes, makes the SLO.
    form = admin_client.get(url)
    assert form.status_code == 200
    assert form.context["adminform"].form.initial["service"] == "uptime:shop"
    saved = admin_client.post(urlsplit(url).path, initial)
    assert saved.status_code == 302, saved.context["adminform"].form.errors if saved.context else saved
    slo = Slo.objects.get(service="uptime:shop")
    assert f"/admin/slo/slo/{slo.pk}/change/" in admin_client.get(change).content.decode()
    assert slo.p99_ms == settings.SLO_LAT_P99_MS and slo.error_budget_pct == settings.SLO_ERR_BUDGET_DAILY_PCT


def test_the_admin_lists_render_with_history(admin_client, db):
    check = UptimeCheck.objects.create(name="shop", target="127.0.0.1:1")
    uptime.record(check, uptime.ProbeResult(False, 3.0, error="connection failed"), timezone.now())
    OpsCheckRun.objects.create(worst="fail", checks=[{"name": "broker", "status": "fail", "detail": "down",
                                                      "duration_ms": 3}])  # fmt: skip
    recovery.recover(dry_run=True, trigger="test")
    for url in ("/admin/ops/uptimecheck/", f"/admin/ops/uptimecheck/{check.pk}/change/", "/admin/ops/opscheckrun/",
                "/admin/ops/recoveryrun/"):  # fmt: skip
        assert admin_client.get(url).status_code == 200, url
    run = OpsCheckRun.objects.get()
    page = admin_client.get(f"/admin/ops/opscheckrun/{run.pk}/change/").content.decode()
    assert "broker" in page and "down" in page


def test_the_probe_now_action_records_a_result(admin_client, db):
    check = UptimeCheck.objects.create(name="shop", target="127.0.0.1:1", timeout_s=1)
    response = admin_client.post(
        "/admin/ops/uptimecheck/", {"action": "probe_now", "_selected_action": [check.pk]}, follow=True
    )
    assert "hop: down (connection failed" in response.content.decode()  # the admin capitalises messages
    assert check.results.count() == 1


def test_run_history_cannot_be_edited_by_hand(admin_client, db):
    assert admin_client.get("/admin/ops/opscheckrun/add/").status_code == 403
    assert admin_client.get("/admin/ops/recoveryrun/add/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_the_card_shows_the_last_check_and_each_probe_with_its_24_h_strip(admin_client, settings):
    settings.OPS_HEARTBEAT_TIMEOUT_S = 0.5
    checks.ops_check()
    check = UptimeCheck.objects.create(name="shop", target="127.0.0.1:1")
    now = timezone.now()
    uptime.record(check, uptime.ProbeResult(True, 12.0, 200), now - timedelta(hours=3))
    uptime.record(check, uptime.ProbeResult(False, 4.0, error="connection failed"), now - timedelta(minutes=5))
    page = admin_client.get("/admin/").content.decode()
    card = page.split('id="card-ops"')[1].split("</section>")[0]
    assert "Ops check" in card and "qcluster" in card and "fail" in card
    assert "shop" in card and card.count("ep-strip-bar") == 24 and "50.0% 24 h" in card
    assert "Run the ops check now" in card


def test_the_hourly_strip_puts_each_probe_in_its_hour(db):
    check = UptimeCheck.objects.create(name="shop", target="127.0.0.1:1")
    now = timezone.now()
    uptime.record(check, uptime.ProbeResult(False, 1.0), now - timedelta(minutes=30))
    uptime.record(check, uptime.ProbeResult(True, 1.0), now - timedelta(hours=5, minutes=30))
    strip = uptime.hourly_strip(check, now)
    assert strip[-1]["pct"] == 0.0 and strip[-6]["pct"] == 100.0
    assert sum(h["pct"] is None for h in strip) == 22


def test_the_demo_adds_one_check_with_a_day_of_results_once(db):
    from ops import demo

    now = timezone.now()
    demo.load(now)
    demo.load(now)
    check = UptimeCheck.objects.get()
    assert check.results.count() == 24 * 12
    pct = uptime.availability(check, timedelta(hours=24), now)
    assert pct is not None and 90 < pct < 100


def test_a_check_made_in_the_admin_with_its_offered_slo_shows_its_availability(admin_client, site, api):
    admin_client.post("/admin/ops/uptimecheck/add/", check_form(target=site.url))
    offer = uptime.offered_slo_url(UptimeCheck.objects.get())
    assert admin_client.post(urlsplit(offer).path, dict(parse_qsl(urlsplit(offer).query))).status_code == 302
    now = timezone.now()
    assert len(uptime.run_due(now - timedelta(minutes=3))) == 1
    site.down()
    assert len(uptime.run_due(now - timedelta(minutes=1))) == 1
    body = api.get("/api/slo/status", {"slo": "uptime:shop", "period": "1h"}).json()
    assert body["requests"] == 2 and body["error_rate"] == pytest.approx(0.5)


def test_metrics_show_each_probe_and_the_last_check(client, db):
    check = UptimeCheck.objects.create(name="shop", target="127.0.0.1:1")
    uptime.record(check, uptime.ProbeResult(True, 12.5, 200), timezone.now())
    OpsCheckRun.objects.create(worst="warn", checks=[])
    text = client.get("/metrics").content.decode()
    assert 'echopilot_uptime_up{check="shop"} 1.0' in text
    assert 'echopilot_uptime_latency_ms{check="shop"} 12.5' in text
    assert "echopilot_ops_check_worst 1.0" in text
