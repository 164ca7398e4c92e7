"""POST /api/slo/ingest: JSON and NDJSON batches, all stored or none."""
import orjson
import pytest
from django.test import Client
from django.utils import timezone

from slo import services
from slo.models import Rollup, Slo


def _sample(i, **over):
    return {"ts": timezone.now().timestamp() - 60 + i * 0.001, "latency_ms": 100 + i, "status": 200,
            "route": "/jobs", **over}


def _minute_total(service, route="*"):
    return sum(Rollup.objects.filter(service=service, route=route, resolution=Rollup.MINUTE).values_list("count", flat=True))


def test_json_batch_is_stored_per_minute_hour_and_day(api):
    samples = [_sample(i) for i in range(50)] + [_sample(i, status=500) for i in range(5)]
    response = api.post("/api/slo/ingest", {"service": "billing", "samples": samples}, content_type="application/json")
    assert response.status_code == 200, response.json()
    assert response.json()["accepted"] == 55
    for res in ("m", "h", "d"):
        rows = Rollup.objects.filter(service="billing", route="*", resolution=res)
        assert sum(r.count for r in rows) == 55
        assert sum(r.errors for r in rows) == 5
    assert sum(Rollup.objects.filter(service="billing", route="/jobs", resolution="d").values_list("count", flat=True)) == 55


def test_ndjson_body_with_service_per_line_and_iso_times(api):
    lines = [
        orjson.dumps({"ts": "2026-11-22T10:00:01Z", "latency_ms": 12.5, "status": 200, "route": "/a", "service": "web"}),
        orjson.dumps({"ts": "2026-11-22T10:00:02.250Z", "latency_ms": 30, "status": 503, "route": "/b", "service": "web"}),
        orjson.dumps({"ts": "2026-11-22T11:00:02+01:00", "latency_ms": 31, "status": 200, "service": "web"}),
    ]
    response = api.post("/api/slo/ingest", b"\n".join(lines) + b"\n", content_type="application/x-ndjson")
    assert response.status_code == 200, response.json()
    minute = Rollup.objects.get(service="web", route="*", resolution="m")
    assert minute.start.isoformat() == "2026-11-22T10:00:00+00:00"
    assert (minute.count, minute.errors, minute.statuses) == (3, 1, {"200": 2, "503": 1})


def test_ndjson_takes_the_service_from_the_query(api):
    body = b"\n".join(orjson.dumps(_sample(i)) for i in range(3))
    response = api.post("/api/slo/ingest?service=queue", body, content_type="application/x-ndjson")
    assert response.status_code == 200
    assert _minute_total("queue") == 3


def test_bad_batch_is_refused_whole_naming_each_line_and_field(api):
    good = orjson.dumps(_sample(0, service="web"))
    body = b"\n".join([
        good,
        b'{"ts": "yesterday", "latency_ms": 5, "status": 200, "service": "web"}',
        good,
        b'{"ts": 1763800000, "latency_ms": -1, "status": 99, "service": "web"}',
        b"{not json",
        b'{"ts": 1763800000, "latency_ms": true, "status": "200", "service": "web"}',
    ])
    response = api.post("/api/slo/ingest", body, content_type="application/x-ndjson")
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert set(fields) == {"line 2.ts", "line 4.latency_ms", "line 4.status", "line 5", "line 6.latency_ms", "line 6.status"}
    assert "negative" in fields["line 4.latency_ms"]
    assert Rollup.objects.count() == 0


def test_json_batch_with_one_bad_sample_stores_nothing(api):
    samples = [_sample(i) for i in range(100)]
    samples[42]["latency_ms"] = "slow"
    del samples[77]["status"]
    response = api.post("/api/slo/ingest", {"service": "billing", "samples": samples}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["fields"] == {
        "samples[42].latency_ms": "must be a finite number of milliseconds",
        "samples[77].status": "must be an HTTP status code (100-599)",
    }
    assert Rollup.objects.count() == 0


@pytest.mark.parametrize("payload, field", [
    ({"samples": [{"ts": 1763800000, "latency_ms": 1, "status": 200}]}, "samples[0].service"),
    ({"service": "bad name!", "samples": []}, "service"),
    ({"service": "api", "samples": "many"}, "samples"),
    ({"service": "api", "samples": [{"ts": 1763800000, "latency_ms": 1, "status": 200, "route": "*"}]}, "samples[0].route"),
    ({"service": "api", "samples": [{"ts": 4102444800, "latency_ms": 1, "status": 200}]}, "samples[0].ts"),
    ({"service": "api", "samples": [{"ts": 1763800000000, "latency_ms": 1, "status": 200}]}, "samples[0].ts"),
])
def test_each_bad_field_is_named(api, payload, field):
    response = api.post("/api/slo/ingest", payload, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_more_than_ten_thousand_samples_is_refused(api):
    body = b"\n".join([orjson.dumps(_sample(0))] * 10_001)
    response = api.post("/api/slo/ingest?service=api", body, content_type="application/x-ndjson")
    assert response.status_code == 400
    assert "10000" in response.json()["fields"]["samples"]
    assert Rollup.objects.count() == 0


def test_ingest_needs_an_admin_key(db, analyst_api):
    assert Client().post("/api/slo/ingest", {}, content_type="application/json").status_code == 401
    assert analyst_api.post("/api/slo/ingest", {}, content_type="application/json").status_code == 403


def test_two_batches_into_the_same_minute_add_up(api):
    slo = Slo.objects.create(name="billing", service="billing", p95_ms=500, p99_ms=900, error_budget_pct=1, window_days=30)
    for _ in range(2):
        samples = [_sample(i) for i in range(30)]
        assert api.post("/api/slo/ingest", {"service": "billing", "samples": samples},
                        content_type="application/json").status_code == 200
    assert services.window(slo, services.PERIODS["1h"]).requests == 60


@pytest.mark.parametrize("body", [
    b'{"service": "api", "samples": [{"ts": 1763800000, "latency_ms": 1e400, "status": 200}]}',
    b'{"service": "api", "samples": [{"ts": 1e999, "latency_ms": 1, "status": 200}]}',
    b'{"service": "api", "samples": [{"ts": 1763800000, "latency_ms": 100000000000000000000000000, "status": 200}]}',
])
def test_out_of_range_numbers_are_a_400_not_a_500(api, body):
    response = api.post("/api/slo/ingest", body, content_type="application/json")
    assert response.status_code == 400
    assert Rollup.objects.count() == 0


def test_scrape_shows_the_burn_and_the_gate(client, slo):
    text = client.get("/metrics").content.decode()
    assert 'echopilot_slo_burn{slo="api"} 0.0' in text
    assert "echopilot_deploy_gate_shut 0.0" in text


def test_ndjson_sent_without_its_content_type_is_still_read_as_lines(api):
    body = b"\n".join(orjson.dumps(_sample(i)) for i in range(4))
    response = api.post("/api/slo/ingest?service=plain", body, content_type="text/plain")
    assert response.status_code == 200 and response.json()["accepted"] == 4
    assert _minute_total("plain") == 4
