"""Uptime probes: targets refused, probes against a real loopback server, strikes to one incident,
the first success resolving it, availability in the slo app and the API."""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import Incident
from ops import uptime
from ops.models import UptimeCheck, UptimeResult, UptimeState
from slo.models import Slo

from .console import free_port


@pytest.mark.parametrize(
    "target",
    ["ftp://example.com/file", "file:///etc/passwd", "javascript:alert(1)", "example.com", "host:0", "host:70000",
     "http://", "https:///path", "bad host:80", "127.0.0.1:port", "", "http://[::1/", "http://h:99999/"],
)  # fmt: skip
def test_targets_that_are_not_http_or_host_port_are_refused(target):
    with pytest.raises(uptime.ValidationError):
        uptime.parse_target(target)


@pytest.mark.parametrize(
    ("target", "kind"),
    [("https://example.com/health", "http"), ("http://127.0.0.1:8000/", "http"), ("db.internal:5432", "tcp"),
     ("[::1]:6379", "tcp"), ("10.0.0.5:22", "tcp")],
)  # fmt: skip
def test_http_urls_and_host_port_are_accepted(target, kind):
    assert uptime.parse_target(target).kind == kind


def test_a_password_in_a_target_is_never_shown(check, site, api, log_dir):
    check.target = site.url.replace("http://", "http://probe:s3cret@")
    check.save()
    site.down()
    for minute in range(2):
        uptime.record(check, uptime.probe_check(check), timezone.now() + timedelta(minutes=minute))
    listed = api.get("/api/ops/uptime").content.decode()
    tested = api.post("/api/ops/uptime/test", {"url": check.target}, content_type="application/json")
    written = (log_dir / "uptime.ndjson").read_text() + str(Incident.objects.get().meta)
    for text in (listed, tested.content.decode(), written):
        assert "s3cret" not in text and "probe:***@" in text


def test_a_probe_passes_on_the_expected_status_and_keyword(site):
    result = uptime.probe(site.url, keyword="systems go")
    assert result.ok and result.status_code == 200 and result.latency_ms > 0


def test_a_probe_fails_on_a_missing_keyword_or_another_status(site):
    assert uptime.probe(site.url, keyword="degraded").error == "keyword 'degraded' not in the body"
    site.status = 500
    assert not uptime.probe(site.url).ok


def test_a_probe_of_a_closed_port_fails_without_raising(site):
    site.down()
    result = uptime.probe(site.url, timeout_s=2)
    assert not result.ok and result.error.startswith("connection failed")


def test_a_redirect_to_another_scheme_is_never_followed(site):
    site.status, site.location = 302, "https://127.0.0.1/elsewhere"
    result = uptime.probe(site.url)
    assert not result.ok and "another scheme" in result.error
    assert site.hits == ["/health"]


def test_a_malformed_redirect_is_a_failed_probe_not_an_error(site):
    site.status, site.location = 302, "http://[::1/broken"
    result = uptime.probe(site.url)
    assert not result.ok and "ValueError" in result.error


def test_a_redirect_within_the_scheme_is_followed(site):
    site.status, site.location = 301, "/health"
    result = uptime.probe(site.url, expected_status=200)
    # The loopback site redirects to itself forever: followed, then given up after the limit.
    assert "redirects" in result.error and len(site.hits) == uptime.MAX_REDIRECTS + 1


def test_a_tcp_check_passes_while_the_port_listens_and_fails_once_it_is_closed(site):
    assert uptime.probe(f"127.0.0.1:{site.port}").ok
    site.down()
    assert not uptime.probe(f"127.0.0.1:{site.port}", timeout_s=2).ok


@pytest.fixture
def check(db, site):
    return UptimeCheck.objects.create(name="shop", target=site.url, strikes=2, interval_s=60)


def probe_at(check, now):
    return uptime.record(check, uptime.probe_check(check), now)


def test_a_site_that_goes_down_and_comes_back_raises_one_incident_after_the_strikes_and_resolves_it(check, site):
    now = timezone.now()
    probe_at(check, now)
    site.down()
    first = probe_at(check, now + timedelta(minutes=1))
    assert first["state"] == "up" and not Incident.objects.exists()  # one failure is not yet a strike-out
    second = probe_at(check, now + timedelta(minutes=2))
    assert second["change"] == "raised"
    probe_at(check, now + timedelta(minutes=3))
    incident = Incident.objects.get()
    assert incident.severity == "CRITICAL" and incident.fingerprint == "uptime:shop:down"
    assert incident.status != Incident.RESOLVED

    site.up()
    back = probe_at(check, now + timedelta(minutes=4))
    assert back["change"] == "resolved"
    assert Incident.objects.get().status == Incident.RESOLVED
    check.refresh_from_db()
    assert check.state == UptimeState.UP and check.failures_in_a_row == 0


def test_availability_shows_in_slo_status_once_an_slo_exists_for_the_check(check, site, api):
    now = timezone.now()
    for minute in range(3):
        probe_at(check, now - timedelta(minutes=10 - minute))
    site.down()
    probe_at(check, now - timedelta(minutes=5))
    Slo.objects.create(
        name="uptime-shop", service="uptime:shop", p95_ms=800, p99_ms=1200, error_budget_pct=1, window_days=30,
        min_events=1,
    )  # fmt: skip
    response = api.get("/api/slo/status", {"slo": "uptime:shop", "period": "1h"})
    assert response.status_code == 200
    body = response.json()
    assert body["requests"] == 4 and body["error_rate"] == pytest.approx(0.25)


def test_every_probe_is_a_line_in_uptime_ndjson(check, log_dir):
    probe_at(check, timezone.now())
    line = (log_dir / "uptime.ndjson").read_text().splitlines()[-1]
    assert '"check":"shop"' in line and '"ok":true' in line


def test_the_job_probes_due_checks_at_once_so_a_slow_target_does_not_hold_up_the_others(db, site):
    # The server lets no answer out until three probes are in flight together: probed one after
    # the other, each would wait out the barrier and fail.
    site.barrier = threading.Barrier(3, timeout=5)
    for name in ("a", "b", "c"):
        UptimeCheck.objects.create(name=name, target=site.url, timeout_s=8)
    results = uptime.run_due()
    assert sorted(r["check"] for r in results) == ["a", "b", "c"]
    assert all(r["ok"] for r in results)


def test_the_job_probes_a_check_only_once_its_interval_has_passed(check):
    now = timezone.now()
    assert len(uptime.run_due(now)) == 1
    assert uptime.run_due(now + timedelta(seconds=30)) == []
    assert len(uptime.run_due(now + timedelta(seconds=59))) == 1  # a job minute that started a little early


def test_get_uptime_lists_state_last_latency_and_availability(check, site, analyst_api):
    now = timezone.now()
    probe_at(check, now - timedelta(days=2))
    site.down()
    probe_at(check, now - timedelta(minutes=1))
    body = analyst_api.get("/api/ops/uptime").json()
    [row] = body["checks"]
    assert row["name"] == "shop" and row["state"] == "up" and row["last_latency_ms"] is not None
    assert row["availability_24h_pct"] == 0.0 and row["availability_30d_pct"] == 50.0


def test_post_uptime_test_probes_once_and_stores_nothing(api, site):
    response = api.post("/api/ops/uptime/test", {"url": site.url, "keyword": "go"}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["ok"] is True and response.json()["status_code"] == 200
    assert not UptimeResult.objects.exists()


def test_post_uptime_test_probes_a_tcp_target(api, site):
    response = api.post("/api/ops/uptime/test", {"url": f"127.0.0.1:{site.port}"}, content_type="application/json")
    assert response.json()["ok"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/"}, "url"),
        ({}, "url"),
        ({"url": "example.com"}, "url"),
        ({"url": "http://x/", "expected_status": 99}, "expected_status"),
        ({"url": "http://x/", "timeout_s": -1}, "timeout_s"),
        ({"url": "http://x/", "timeout_s": "soon"}, "timeout_s"),
        ({"url": "http://x/", "method": "DELETE"}, "method"),
        ({"url": ["http://x/"]}, "url"),
        ([1, 2], "non_field_errors"),
        ({"url": "127.0.0.1:5432", "keyword": "ok"}, "keyword"),
        ({"url": "http://x/", "method": "HEAD", "keyword": "ok"}, "keyword"),
    ],
)
def test_bad_uptime_test_bodies_are_a_400_naming_the_field(api, body, field):
    response = api.post("/api/ops/uptime/test", body, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_malformed_json_to_uptime_test_is_a_400(api):
    response = api.post("/api/ops/uptime/test", "{nope", content_type="application/json")
    assert response.status_code == 400


def test_an_analyst_may_list_but_not_probe(analyst_api):
    assert analyst_api.get("/api/ops/uptime").status_code == 200
    assert (
        analyst_api.post("/api/ops/uptime/test", {"url": "http://x/"}, content_type="application/json").status_code
        == 403
    )


def test_without_a_key_the_uptime_api_is_a_401(client, db):
    assert client.get("/api/ops/uptime").status_code == 401


def test_an_unused_port_in_our_range_is_refused_by_a_tcp_probe(db):
    assert not uptime.probe(f"127.0.0.1:{free_port()}", timeout_s=1).ok


def test_the_uptime_probes_command_probes_the_due_checks(check, site, capsys):
    from django.core.management import call_command

    site.down()
    call_command("uptime_probes")
    assert "1 probed, 0 down" in capsys.readouterr().out  # one failure: not yet a strike-out
    UptimeCheck.objects.update(next_due_at=None)
    call_command("uptime_probes")
    assert "1 probed, 1 down: shop" in capsys.readouterr().out


def test_the_keyword_is_looked_for_in_the_first_megabyte_only(site):
    site.body = b"x" * (uptime.MAX_BODY + 10) + b"needle"
    assert "not in the body" in uptime.probe(site.url, keyword="needle").error
    site.body = b"needle" + b"x" * (uptime.MAX_BODY + 10)
    assert uptime.probe(site.url, keyword="needle").ok


def test_a_result_that_cannot_be_recorded_does_not_cost_the_other_checks_theirs(db, site, monkeypatch):
    for name in ("a", "b"):
        UptimeCheck.objects.create(name=name, target=site.url)
    real = uptime.record_sample

    def failing_for_a(service, result, now):
        if service == "uptime:a":
            raise RuntimeError("the slo app is away")
        real(service, result, now)

    monkeypatch.setattr(uptime, "record_sample", failing_for_a)
    assert [r["check"] for r in uptime.run_due()] == ["b"]
    assert UptimeCheck.objects.get(name="b").results.count() == 1
