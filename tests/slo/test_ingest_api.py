"""POST /api/slo/ingest: JSON and NDJSON batches, all stored or none."""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import orjson
import pytest
from django.test import Client
from django.utils import timezone

from slo import ingest, services
from slo.models import Rollup, RollupPart, Slo

from .conftest import fold_all


def _sample(i, **over):
    return {
        "ts": timezone.now().timestamp() - 60 + i * 0.001,
        "latency_ms": 100 + i,
        "status": 200,
        "route": "/jobs",
        **over,
    }


def _minute_total(service, route="*"):
    fold_all()
    return sum(
        Rollup.objects.filter(service=service, route=route, resolution=Rollup.MINUTE).values_list("count", flat=True)
    )


def test_json_batch_is_stored_per_minute_then_per_hour_and_day_once_they_close(api):
    samples = [_sample(i) for i in range(50)] + [_sample(i, status=500) for i in range(5)]
    response = api.post("/api/slo/ingest", {"service": "billing", "samples": samples}, content_type="application/json")
    assert response.status_code == 200, response.json()
    assert response.json()["accepted"] == 55
    fold_all()
    minutes = Rollup.objects.filter(service="billing", route="*", resolution="m")
    assert (sum(r.count for r in minutes), sum(r.errors for r in minutes)) == (55, 5)
    ingest.close_hours(timezone.now() + timedelta(days=1, hours=1))
    for res in ("m", "h", "d"):
        rows = Rollup.objects.filter(service="billing", route="*", resolution=res)
        assert sum(r.count for r in rows) == 55
        assert sum(r.errors for r in rows) == 5
    assert (
        sum(Rollup.objects.filter(service="billing", route="/jobs", resolution="d").values_list("count", flat=True))
        == 55
    )


def test_ndjson_body_with_service_per_line_and_iso_times(api):
    lines = [
        orjson.dumps(
            {"ts": "2026-11-22T10:00:01Z", "latency_ms": 12.5, "status": 200, "route": "/a", "service": "web"}
        ),
        orjson.dumps(
            {"ts": "2026-11-22T10:00:02.250Z", "latency_ms": 30, "status": 503, "route": "/b", "service": "web"}
        ),
        orjson.dumps({"ts": "2026-11-22T11:00:02+01:00", "latency_ms": 31, "status": 200, "service": "web"}),
    ]
    response = api.post("/api/slo/ingest", b"\n".join(lines) + b"\n", content_type="application/x-ndjson")
    assert response.status_code == 200, response.json()
    fold_all()
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
    body = b"\n".join(
        [
            good,
            b'{"ts": "yesterday", "latency_ms": 5, "status": 200, "service": "web"}',
            good,
            b'{"ts": 1763800000, "latency_ms": -1, "status": 99, "service": "web"}',
            b"{not json",
            b'{"ts": 1763800000, "latency_ms": true, "status": "200", "service": "web"}',
        ]
    )
    response = api.post("/api/slo/ingest", body, content_type="application/x-ndjson")
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert set(fields) == {
        "line 2.ts",
        "line 4.latency_ms",
        "line 4.status",
        "line 5",
        "line 6.latency_ms",
        "line 6.status",
    }
    assert "negative" in fields["line 4.latency_ms"]
    assert Rollup.objects.count() == RollupPart.objects.count() == 0


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
    assert Rollup.objects.count() == RollupPart.objects.count() == 0


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"samples": [{"ts": 1763800000, "latency_ms": 1, "status": 200}]}, "samples[0].service"),
        ({"service": "bad name!", "samples": []}, "service"),
        ({"service": "api", "samples": "many"}, "samples"),
        (
            {"service": "api", "samples": [{"ts": 1763800000, "latency_ms": 1, "status": 200, "route": "*"}]},
            "samples[0].route",
        ),
        ({"service": "api", "samples": [{"ts": 4102444800, "latency_ms": 1, "status": 200}]}, "samples[0].ts"),
        ({"service": "api", "samples": [{"ts": 1763800000000, "latency_ms": 1, "status": 200}]}, "samples[0].ts"),
    ],
)
def test_each_bad_field_is_named(api, payload, field):
    response = api.post("/api/slo/ingest", payload, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_more_than_ten_thousand_samples_is_refused(api):
    body = b"\n".join([orjson.dumps(_sample(0))] * 10_001)
    response = api.post("/api/slo/ingest?service=api", body, content_type="application/x-ndjson")
    assert response.status_code == 400
    assert "10000" in response.json()["fields"]["samples"]
    assert Rollup.objects.count() == RollupPart.objects.count() == 0


def test_ingest_needs_an_admin_key(db, analyst_api):
    assert Client().post("/api/slo/ingest", {}, content_type="application/json").status_code == 401
    assert analyst_api.post("/api/slo/ingest", {}, content_type="application/json").status_code == 403


def test_two_batches_into_the_same_minute_add_up(api):
    slo = Slo.objects.create(
        name="billing", service="billing", p95_ms=500, p99_ms=900, error_budget_pct=1, window_days=30
    )
    for _ in range(2):
        samples = [_sample(i) for i in range(30)]
        assert (
            api.post(
                "/api/slo/ingest", {"service": "billing", "samples": samples}, content_type="application/json"
            ).status_code
            == 200
        )
    assert services.window(slo, services.PERIODS["1h"]).requests == 60


@pytest.mark.parametrize(
    "body",
    [
        b'{"service": "api", "samples": [{"ts": 1763800000, "latency_ms": 1e400, "status": 200}]}',
        b'{"service": "api", "samples": [{"ts": 1e999, "latency_ms": 1, "status": 200}]}',
        b'{"service": "api", "samples": [{"ts": 1763800000, "latency_ms": 1' + b"0" * 26 + b', "status": 200}]}',
    ],
)
def test_out_of_range_numbers_are_a_400_not_a_500(api, body):
    response = api.post("/api/slo/ingest", body, content_type="application/json")
    assert response.status_code == 400
    assert Rollup.objects.count() == RollupPart.objects.count() == 0


def test_scrape_shows_the_burn_and_the_gate(client, slo):
    text = client.get("/metrics").content.decode()
    assert 'echopilot_slo_burn{slo="api"} 0.0' in text
    assert "echopilot_deploy_gate_shut 0.0" in text


def test_ndjson_sent_without_its_content_type_is_still_read_as_lines(api):
    body = b"\n".join(orjson.dumps(_sample(i)) for i in range(4))
    response = api.post("/api/slo/ingest?service=plain", body, content_type="text/plain")
    assert response.status_code == 200 and response.json()["accepted"] == 4
    assert _minute_total("plain") == 4


def _iso(i=0, seconds_ago=600):
    """A plain UTC time like the ones clients send: 2026-11-24T10:00:00.123000Z."""
    moment = timezone.now() - timedelta(seconds=seconds_ago - i)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize(
    "body, content_type, field",
    [
        (b'{"samples": [{"ts": "", "latency_ms": 1, "status": 200}]}', "application/json", "samples[0].ts"),
        (b'{"ts": "", "latency_ms": 1, "status": 200}\n', "application/x-ndjson", "line 1.ts"),
        (
            "\n".join(
                [
                    orjson.dumps({"ts": _iso(), "latency_ms": 1, "status": 200}).decode(),
                    '{"ts": "", "latency_ms": 1, "status": 200}',
                ]
            ).encode(),
            "application/x-ndjson",
            "line 2.ts",
        ),
    ],
)
def test_an_empty_time_is_a_400_naming_it(api, body, content_type, field):
    response = api.post("/api/slo/ingest?service=x", body, content_type=content_type)
    assert response.status_code == 400, response.content
    assert response.json()["fields"] == {field: "is not an ISO 8601 time"}
    assert Rollup.objects.count() == RollupPart.objects.count() == 0


def test_asking_for_the_browsable_api_gets_json(api):
    assert api.get("/api/slo/ingest?format=api").status_code == 405
    assert api.get("/api/slo/ingest?format=api").json()["error"]
    samples = [_sample(i) for i in range(3)]
    for accept in ("text/html", "text/html,application/xhtml+xml;q=0.9", "image/png"):
        response = api.post(
            "/api/slo/ingest?service=web", {"samples": samples}, content_type="application/json", HTTP_ACCEPT=accept
        )
        assert (response.status_code, response["Content-Type"]) == (200, "application/json"), response.content
    refused = api.post("/api/slo/ingest?format=api", {"samples": [{"ts": "x"}]}, content_type="application/json")
    assert refused.status_code == 400 and "samples[0].ts" in refused.json()["fields"]
    assert _minute_total("web") == 9


def test_a_batch_of_many_services_is_stored_in_a_few_queries(
    db, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    hour = int(timezone.now().timestamp()) // 3600 * 3600 - 2 * 3600  # samples within one hour, still open
    now = datetime.fromtimestamp(hour + 600, tz=dt_timezone.utc)
    body = orjson.dumps(
        [
            {
                "ts": hour + 60 + i,
                "latency_ms": 10 + i,
                "status": 500 if i % 10 == 0 else 200,
                "route": f"/r{i % 3}",
                "service": f"fz{i}",
            }
            for i in range(300)
        ]
    )
    # One part per service (its route's open minute; "*" is built when the minute folds), the services'
    # open hours noted, and their routes read (on PostgreSQL under their lock) ...
    samples = ingest.parse_body(body, "application/json")
    with django_assert_max_num_queries(9), django_capture_on_commit_callbacks(execute=True):
        assert ingest.ingest(samples, now) == {"accepted": 300, "rows": 300}
    # ... then, for routes this process knows: lock, open hours, savepoint, the waiting parts, append,
    # release.
    samples = ingest.parse_body(body, "application/json")
    with django_assert_max_num_queries(6):
        assert ingest.ingest(samples, now) == {"accepted": 300, "rows": 300}
    assert not Rollup.objects.exists()  # the minutes are open: parts only
    assert RollupPart.objects.count() == 600
    built = ingest.close_hours(now + timedelta(days=1))
    # the minute, hour and day rows of "/rN" and "*", each written once
    assert len(built) == 300 and set(built.values()) == {3 * 2}
    assert not RollupPart.objects.exists()
    day = {r.service: r for r in Rollup.objects.filter(resolution="d", route="*")}
    assert len(day) == 300
    assert (day["fz0"].count, day["fz0"].errors, day["fz0"].statuses) == (2, 2, {"500": 2})
    assert (day["fz7"].count, day["fz7"].latency_sum_ms, day["fz7"].statuses) == (2, 34.0, {"200": 2})
    assert Rollup.objects.get(service="fz7", route="/r1", resolution="m").count == 2


def test_routes_and_services_are_stored_exactly_as_sent(api):
    routes = ["/a%20b", "/it's", '/q"uote', "/back\\slash", "/ünï/☃", "/" + "x" * 199]
    samples = [_sample(i, route=route) for i, route in enumerate(routes)]
    response = api.post(
        "/api/slo/ingest", {"service": "Svc.1_a-b", "samples": samples}, content_type="application/json"
    )
    assert response.status_code == 200, response.json()
    fold_all()
    stored = set(Rollup.objects.filter(service="Svc.1_a-b", resolution="m").values_list("route", flat=True))
    assert stored == {*routes, "*"}


@pytest.mark.parametrize("where", ["sample", "batch", "query"])
def test_a_service_ending_in_a_newline_is_refused(api, where):
    sample = _sample(0, **({"service": "fuzznl\n"} if where == "sample" else {}))
    body = {"samples": [sample], **({"service": "fuzznl\n"} if where == "batch" else {})}
    url = "/api/slo/ingest?service=fuzznl%0A" if where == "query" else "/api/slo/ingest"
    response = api.post(url, body, content_type="application/json")
    assert response.status_code == 400
    assert {"sample": "samples[0].service", "batch": "service", "query": "service"}[where] in response.json()["fields"]
    assert Rollup.objects.count() == RollupPart.objects.count() == 0


@pytest.mark.parametrize("content_type", ["application/json", "application/x-ndjson"])
def test_a_nul_in_a_route_is_refused(api, content_type):
    samples = [_sample(0), _sample(1, route="/jobs\x00"), _sample(2)]
    if content_type == "application/json":
        body, field = orjson.dumps({"samples": samples}), "samples[1].route"
    else:
        body, field = b"\n".join(map(orjson.dumps, samples)), "line 2.route"
    response = api.post("/api/slo/ingest?service=web", body, content_type=content_type)
    assert response.status_code == 400
    assert "NUL" in response.json()["fields"][field]
    assert Rollup.objects.count() == RollupPart.objects.count() == 0


@pytest.mark.parametrize(
    "make_bad",
    [
        lambda good: good[:-1] + "+05:00Z",
        lambda good: good[:-1] + "\x00Z",
        lambda good: good[:19] + "\x00Z",
        lambda good: "+" + good,
        lambda good: " " + good,
    ],
)
def test_malformed_times_are_refused_even_among_plain_utc_ones(api, make_bad):
    samples = [{"ts": _iso(i), "latency_ms": 5, "status": 200} for i in range(20)]
    samples[7]["ts"] = make_bad(samples[7]["ts"])
    response = api.post("/api/slo/ingest?service=web", {"samples": samples}, content_type="application/json")
    assert response.status_code == 400, samples[7]["ts"]
    assert response.json()["fields"] == {"samples[7].ts": "is not an ISO 8601 time"}
    assert Rollup.objects.count() == RollupPart.objects.count() == 0


def test_plain_utc_times_of_any_precision_land_in_their_minute(api):
    start = (timezone.now() - timedelta(minutes=5)).replace(second=0, microsecond=0)
    stamps = [
        f"{start:%Y-%m-%dT%H:%M}:01Z",
        f"{start:%Y-%m-%dT%H:%M}:02.5Z",
        f"{start:%Y-%m-%dT%H:%M}:59.999999Z",
        f"{start:%Y-%m-%dT%H:%M}:59.9999999Z",
    ]
    samples = [{"ts": ts, "latency_ms": 5, "status": 200} for ts in stamps]
    assert (
        api.post("/api/slo/ingest?service=web", {"samples": samples}, content_type="application/json").status_code
        == 200
    )
    fold_all()
    minute = Rollup.objects.get(service="web", route="*", resolution="m")
    assert (minute.start, minute.count) == (start, 4)
