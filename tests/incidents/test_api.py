"""POST /api/incidents/raise, /summarize (and /summary), /status."""

import pytest
from django.core.exceptions import ValidationError

from incidents.models import Delivery, Incident

pytestmark = pytest.mark.django_db


def post(api, path, body, **headers):
    return api.post(path, body, content_type="application/json", **headers)


def test_raise_answers_id_fingerprint_count_and_dedup(api):
    first = post(api, "/api/incidents/raise", {"severity": "critical", "msg": "SLO burn", "source": "test"})
    assert first.status_code == 201
    body = first.json()
    assert body["count"] == 1 and body["deduplicated"] is False and body["severity"] == "CRITICAL"
    second = post(api, "/api/incidents/raise", {"severity": "CRITICAL", "msg": "SLO burn", "source": "test"})
    assert second.status_code == 200
    assert second.json()["id"] == body["id"] and second.json()["fingerprint"] == body["fingerprint"]
    assert second.json()["count"] == 2 and second.json()["deduplicated"] is True
    assert Incident.objects.get().count == 2


def test_bad_severity_is_a_400_naming_the_field(api):
    response = post(api, "/api/incidents/raise", {"severity": "FATAL", "msg": "x", "source": "y"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid input"
    assert "severity" in response.json()["fields"]
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"msg": "x"}, "severity"),
        ({"severity": "INFO"}, "msg"),
        ({"severity": "INFO", "msg": ""}, "msg"),
        ({"severity": 3, "msg": "x"}, "severity"),
        ({"severity": "INFO", "msg": "x", "meta": [1, 2]}, "meta"),
        ({"severity": "INFO", "msg": "x", "source": ["a"]}, "source"),
    ],
)
def test_invalid_raise_bodies_name_the_field(api, body, field):
    response = post(api, "/api/incidents/raise", body)
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Incident.objects.exists()


def test_malformed_json_is_a_400(api):
    response = api.post("/api/incidents/raise", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert not Incident.objects.exists()


def test_dedup_key_in_the_body_is_the_fingerprint(api):
    a = post(api, "/api/incidents/raise", {"severity": "ERROR", "msg": "one", "dedup_key": "svc-42"}).json()
    b = post(api, "/api/incidents/raise", {"severity": "ERROR", "msg": "two", "dedup_key": "svc-42"}).json()
    assert a["fingerprint"] == "svc-42" and b["id"] == a["id"] and b["deduplicated"]


def test_analyst_may_read_the_summary_but_not_raise(analyst_api):
    assert post(analyst_api, "/api/incidents/raise", {"severity": "INFO", "msg": "x"}).status_code == 403
    assert analyst_api.get("/api/incidents/summary").status_code == 200
    assert not Incident.objects.exists()


def test_summarize_groups_by_fingerprint_with_totals(api):
    for ms in (3012, 2987, 3500):
        post(api, "/api/incidents/raise", {"severity": "ERROR", "msg": f"timeout after {ms} ms", "source": "api"})
    post(api, "/api/incidents/raise", {"severity": "CRITICAL", "msg": "db down", "source": "db"})
    for path in ("/api/incidents/summarize", "/api/incidents/summary"):
        body = post(api, path, {}).json()
        assert len(body["groups"]) == 2
        timeout = next(g for g in body["groups"] if g["source"] == "api")
        assert timeout["count"] == 3 and timeout["severity"] == "ERROR" and timeout["status"] == "open"
        assert set(timeout) >= {"fingerprint", "msg", "first_seen", "last_seen", "pages_sent"}
        assert body["totals"] == {"INFO": 0, "WARNING": 0, "ERROR": 3, "CRITICAL": 1}


def test_summary_hours_must_be_positive(api):
    response = post(api, "/api/incidents/summary?hours=-1", {})
    assert response.status_code == 400 and "hours" in response.json()["fields"]
    response = post(api, "/api/incidents/summary?hours=abc", {})
    assert response.status_code == 400 and "hours" in response.json()["fields"]


def test_summary_honours_hours(api):
    from datetime import timedelta

    from django.utils import timezone

    from incidents import raise_incident

    raise_incident("WARNING", "old thing", "x", now=timezone.now() - timedelta(hours=5))
    raise_incident("WARNING", "new thing", "x")
    assert len(post(api, "/api/incidents/summary?hours=2", {}).json()["groups"]) == 1
    assert len(post(api, "/api/incidents/summary?hours=6", {}).json()["groups"]) == 2


def test_status_says_which_channels_are_off(api, telegram):
    body = api.get("/api/incidents/status").json()
    channels = {c["channel"]: c for c in body["channels"]}
    assert channels["telegram"]["configured"] is True
    assert channels["email"]["configured"] is False and "SMTP_HOST" in channels["email"]["off_reason"]
    assert "test-token" not in str(body)


def test_raise_records_the_page_but_does_not_send_it_in_the_request(api, telegram):
    post(api, "/api/incidents/raise", {"severity": "CRITICAL", "msg": "down", "source": "x"})
    assert Delivery.objects.get().status == Delivery.PENDING
    assert telegram.requests == []


def test_acknowledge_and_resolve_record_who(api):
    incident_id = post(api, "/api/incidents/raise", {"severity": "ERROR", "msg": "x"}).json()["id"]
    assert post(api, f"/api/incidents/{incident_id}/acknowledge", {}).json()["status"] == "acknowledged"
    assert post(api, f"/api/incidents/{incident_id}/resolve", {"note": "fixed"}).json()["status"] == "resolved"
    incident = Incident.objects.get()
    assert incident.acknowledged_by == "key:test-admin" and incident.resolved_by == "key:test-admin"
    assert incident.resolve_note == "fixed"
    assert post(api, "/api/incidents/999/resolve", {}).status_code == 404


def test_summary_counts_pages_sent_per_group(api, telegram):
    from incidents import pager

    post(api, "/api/incidents/raise", {"severity": "CRITICAL", "msg": "db down", "source": "db"})
    post(api, "/api/incidents/raise", {"severity": "CRITICAL", "msg": "db down", "source": "db"})
    pager.send_due()
    group = post(api, "/api/incidents/summary", {}).json()["groups"][0]
    assert (group["count"], group["pages_sent"], group["status"]) == (2, 1, "open")


def nested(depth: int):
    value = 1
    for _ in range(depth):
        value = {"k": value}
    return value


def test_meta_nested_deeper_than_json_can_be_stored_is_a_400_naming_it(api):
    response = post(api, "/api/incidents/raise", {"severity": "INFO", "msg": "x", "meta": nested(300)})
    assert response.status_code == 400
    assert "meta" in response.json()["fields"]
    assert not Incident.objects.exists()


def test_python_callers_meta_that_is_not_json_raises_and_writes_nothing(db):
    from incidents.services import raise_incident

    with pytest.raises(ValidationError, match="meta"):
        raise_incident("INFO", "x", "test", {"n": 10**30})
    assert not Incident.objects.exists()


def test_a_critical_repeat_of_an_info_incident_escalates_it_and_pages(api, telegram):
    post(api, "/api/incidents/raise", {"severity": "info", "msg": "m", "fingerprint": "F"})
    body = post(api, "/api/incidents/raise", {"severity": "critical", "msg": "m", "fingerprint": "F"}).json()
    assert (body["severity"], body["deduplicated"], body["escalated"], body["pages"], body["count"]) == (
        "CRITICAL",
        True,
        True,
        1,
        2,
    )
    assert Incident.objects.get().severity == "CRITICAL"


@pytest.mark.parametrize("meta", [{"a": "\x00"}, {"a\x00": "b"}, {"a": {"b": ["c\x00d"]}}])
def test_a_nul_anywhere_in_meta_is_a_400_naming_it(api, meta):
    response = post(api, "/api/incidents/raise", {"severity": "INFO", "msg": "x", "meta": meta})
    assert response.status_code == 400
    assert "NUL" in response.json()["fields"]["meta"]
    assert not Incident.objects.exists()


@pytest.mark.parametrize("note", ["a\x00b", "n" * 4001, 7])
def test_a_resolve_note_with_a_nul_too_long_or_not_text_is_a_400_naming_it(api, note):
    incident_id = post(api, "/api/incidents/raise", {"severity": "ERROR", "msg": "x"}).json()["id"]
    response = post(api, f"/api/incidents/{incident_id}/resolve", {"note": note})
    assert response.status_code == 400
    assert "note" in response.json()["fields"]
    assert Incident.objects.get().status == Incident.OPEN
