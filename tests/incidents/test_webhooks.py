"""Alertmanager (webhook v4) and PagerDuty Events API v2 in: raise, acknowledge, resolve; and their keys."""

import json

import pytest

from incidents.models import Delivery, Incident

pytestmark = pytest.mark.django_db


def alertmanager_payload(status, alerts):
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighLatency"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "echopilot",
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }


def alert(status, fingerprint, severity="critical", summary="p99 latency above 1.2 s"):
    return {
        "status": status,
        "fingerprint": fingerprint,
        "labels": {"alertname": "HighLatency", "severity": severity, "job": "checkout", "instance": "web-1:9100"},
        "annotations": {"summary": summary},
        "startsAt": "2026-11-22T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=...",
    }


def test_alertmanager_firing_raises_and_resolved_resolves(client, admin_key, telegram):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {admin_key}"}
    firing = alertmanager_payload(
        "firing", [alert("firing", "a1b2c3d4e5f60718"), alert("firing", "99aa", "warning", "disk 85%")]
    )
    response = client.post("/api/incidents/alertmanager", firing, content_type="application/json", **auth)
    assert response.status_code == 200, response.content
    assert len(response.json()["raised"]) == 2
    critical = Incident.objects.get(fingerprint="a1b2c3d4e5f60718")
    assert (critical.severity, critical.source, critical.message) == ("CRITICAL", "checkout", "p99 latency above 1.2 s")
    assert critical.meta["labels"]["instance"] == "web-1:9100"
    assert Incident.objects.get(fingerprint="99aa").severity == "WARNING"
    assert Delivery.objects.filter(incident=critical).count() == 1

    # Alertmanager repeats firing alerts every repeat_interval: that is a dedup, not a new page.
    client.post("/api/incidents/alertmanager", firing, content_type="application/json", **auth)
    assert Incident.objects.get(fingerprint="a1b2c3d4e5f60718").count == 2
    assert Delivery.objects.count() == 1

    resolved = alertmanager_payload("resolved", [alert("resolved", "a1b2c3d4e5f60718")])
    response = client.post("/api/incidents/alertmanager", resolved, content_type="application/json", **auth)
    assert response.json()["resolved"] == 1
    critical.refresh_from_db()
    assert critical.status == Incident.RESOLVED and critical.resolved_by == "alertmanager"


def test_alertmanager_accepts_x_dash_key_too(api):
    response = api.post(
        "/api/incidents/alertmanager",
        alertmanager_payload("firing", [alert("firing", "f1")]),
        content_type="application/json",
    )
    assert response.status_code == 200


def test_alertmanager_without_a_key_is_refused(client):
    response = client.post(
        "/api/incidents/alertmanager",
        alertmanager_payload("firing", [alert("firing", "f1")]),
        content_type="application/json",
    )
    assert response.status_code == 401
    response = client.post(
        "/api/incidents/alertmanager",
        alertmanager_payload("firing", [alert("firing", "f1")]),
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer ep_00000000_wrong",
    )
    assert response.status_code == 401
    assert not Incident.objects.exists()


def test_alertmanager_analyst_key_cannot_raise(client, analyst_key):
    response = client.post(
        "/api/incidents/alertmanager",
        alertmanager_payload("firing", [alert("firing", "f1")]),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {analyst_key}",
    )
    assert response.status_code == 403


def test_alertmanager_bad_alert_is_a_400_and_writes_nothing(api):
    good, bad = alert("firing", "ok1"), alert("exploded", "bad1")
    response = api.post(
        "/api/incidents/alertmanager", alertmanager_payload("firing", [good, bad]), content_type="application/json"
    )
    assert response.status_code == 400
    assert "alerts" in response.json()["fields"]
    assert not Incident.objects.exists()


def test_alertmanager_other_version_is_refused(api):
    payload = {**alertmanager_payload("firing", [alert("firing", "f1")]), "version": "3"}
    response = api.post("/api/incidents/alertmanager", payload, content_type="application/json")
    assert response.status_code == 400 and "version" in response.json()["fields"]


def event(action, dedup_key=None, routing_key=None, severity="critical"):
    body = {"event_action": action}
    if routing_key:
        body["routing_key"] = routing_key
    if dedup_key:
        body["dedup_key"] = dedup_key
    if action == "trigger":
        body["payload"] = {
            "summary": "Example alert on host1",
            "source": "monitoringtool:host1",
            "severity": severity,
            "component": "postgres",
            "custom_details": {"free space": "1%"},
        }
    return body


def test_events_api_trigger_acknowledge_resolve_with_routing_key(client, admin_key):
    response = client.post(
        "/api/incidents/events", event("trigger", "srv01/HTTP", admin_key), content_type="application/json"
    )
    assert response.status_code == 202, response.content
    assert response.json() == {"status": "success", "message": "Event processed", "dedup_key": "srv01/HTTP"}
    incident = Incident.objects.get(fingerprint="srv01/HTTP")
    assert (incident.severity, incident.source, incident.message) == (
        "CRITICAL",
        "monitoringtool:host1",
        "Example alert on host1",
    )
    assert incident.meta["custom_details"] == {"free space": "1%"}

    client.post("/api/incidents/events", event("acknowledge", "srv01/HTTP", admin_key), content_type="application/json")
    incident.refresh_from_db()
    assert incident.status == Incident.ACKNOWLEDGED and incident.acknowledged_by == "events-api"

    client.post("/api/incidents/events", event("resolve", "srv01/HTTP", admin_key), content_type="application/json")
    incident.refresh_from_db()
    assert incident.status == Incident.RESOLVED


def test_events_api_trigger_without_dedup_key_is_its_own_alert_and_answers_its_key(api):
    first = api.post("/api/incidents/events", event("trigger"), content_type="application/json").json()
    second = api.post("/api/incidents/events", event("trigger"), content_type="application/json").json()
    assert first["dedup_key"] != second["dedup_key"]
    assert set(Incident.objects.values_list("fingerprint", flat=True)) == {first["dedup_key"], second["dedup_key"]}


def test_events_api_wrong_routing_key_is_refused(client):
    response = client.post("/api/incidents/events", event("trigger", "k", "not-a-key"), content_type="application/json")
    assert response.status_code == 401
    assert not Incident.objects.exists()


def test_events_api_validation_names_the_field(api):
    response = api.post(
        "/api/incidents/events", event("trigger", "k", severity="apocalyptic"), content_type="application/json"
    )
    assert response.status_code == 400 and "payload" in response.json()["fields"]
    response = api.post("/api/incidents/events", {"event_action": "resolve"}, content_type="application/json")
    assert response.status_code == 400 and "dedup_key" in response.json()["fields"]
    response = api.post(
        "/api/incidents/events", {"event_action": "explode", "dedup_key": "k"}, content_type="application/json"
    )
    assert response.status_code == 400 and "event_action" in response.json()["fields"]
    assert not Incident.objects.exists()


def test_events_api_malformed_body_without_key_is_401_not_400(client):
    response = client.post("/api/incidents/events", "{oops", content_type="application/json")
    assert response.status_code == 401


def test_alertmanager_storm_past_the_limit_is_a_400_naming_alerts(api):
    from incidents import serializers

    # Bare alerts: a storm this size fits the upload limit, and took a worker past its timeout.
    storm = [{"status": "resolved", "labels": {"a": str(i)}} for i in range(serializers.MAX_ALERTS + 1)]
    response = api.post(
        "/api/incidents/alertmanager", {"version": "4", "alerts": storm}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "10000 elements" in response.json()["fields"]["alerts"]["non_field_errors"]


def test_events_api_custom_details_deeper_than_json_can_be_stored_is_a_400(api):
    body = event("trigger", "deep")
    details = 1
    for _ in range(300):
        details = {"k": details}
    body["payload"]["custom_details"] = details
    response = api.post("/api/incidents/events", body, content_type="application/json")
    assert response.status_code == 400
    assert "custom_details" in response.json()["fields"]["payload"]
    assert not Incident.objects.exists()


def test_events_api_critical_trigger_escalates_an_info_one_with_the_same_dedup_key(api, telegram):
    api.post("/api/incidents/events", event("trigger", "srv01/disk", severity="info"), content_type="application/json")
    assert not Delivery.objects.exists()
    api.post(
        "/api/incidents/events", event("trigger", "srv01/disk", severity="critical"), content_type="application/json"
    )
    incident = Incident.objects.get()
    assert (incident.severity, incident.count) == ("CRITICAL", 2)
    assert Delivery.objects.filter(incident=incident).count() == 1


@pytest.mark.parametrize("details", [{"a": "\x00"}, {"a\x00": 1}, "\x00"])
def test_events_api_custom_details_with_a_nul_is_a_400(api, details):
    body = event("trigger", "nul")
    body["payload"]["custom_details"] = details
    response = api.post("/api/incidents/events", body, content_type="application/json")
    assert response.status_code == 400
    assert "custom_details" in response.json()["fields"]["payload"]
    assert not Incident.objects.exists()


@pytest.mark.parametrize("where", ["labels", "annotations"])
def test_alertmanager_key_with_a_nul_is_a_400_naming_it(api, where):
    bad = alert("firing", "nul1")
    bad[where]["key\x00"] = "v"
    response = api.post(
        "/api/incidents/alertmanager", alertmanager_payload("firing", [bad]), content_type="application/json"
    )
    assert response.status_code == 400
    assert "NUL" in response.json()["fields"]["alerts"]["0"][where]
    assert not Incident.objects.exists()


def test_alertmanager_notification_costs_the_same_queries_however_many_alerts(
    api, telegram, django_assert_max_num_queries
):
    severities = ["critical", "warning", "error", "info"]
    alerts = [alert("firing", f"fp-{i}", severities[i % 4], f"thing {i} broke") for i in range(200)]
    with django_assert_max_num_queries(40):
        response = api.post(
            "/api/incidents/alertmanager", alertmanager_payload("firing", alerts), content_type="application/json"
        )
    assert response.status_code == 200
    assert Incident.objects.count() == 200
    with django_assert_max_num_queries(40):
        api.post("/api/incidents/alertmanager", alertmanager_payload("firing", alerts), content_type="application/json")
    assert set(Incident.objects.values_list("count", flat=True)) == {2}


def test_alertmanager_alerts_are_applied_in_order(api, telegram):
    alerts = [
        alert("firing", "a", "info"),
        alert("firing", "a", "critical"),  # escalated within the notification
        alert("firing", "b"),
        alert("resolved", "b"),
        alert("firing", "b"),  # resolved, then opened again
    ]
    body = api.post(
        "/api/incidents/alertmanager", alertmanager_payload("firing", alerts), content_type="application/json"
    ).json()
    assert body["resolved"] == 1
    assert [(r["fingerprint"], r["created"], r["escalated"]) for r in body["raised"]] == [
        ("a", True, False),
        ("a", False, True),
        ("b", True, False),
        ("b", True, False),
    ]
    a = Incident.objects.get(fingerprint="a")
    assert (a.severity, a.count) == ("CRITICAL", 2)
    assert sorted(Incident.objects.filter(fingerprint="b").values_list("status", flat=True)) == ["open", "resolved"]
    assert Delivery.objects.filter(incident=a).count() == 1
    assert Delivery.objects.count() == 3


@pytest.mark.slow
def test_alertmanager_takes_the_documented_10000_alerts_of_a_real_size_in_one_notification(client, admin_key):
    """The README promises 10,000 a notification: each alert here is as big as a real one (~700 bytes),
    so the body is past Django's default 2.5 MB, and each alert one new incident."""
    alerts = []
    for n in range(10_000):
        one = alert("firing", f"{n:016x}", "warning", f"disk {n % 100}% full on web-{n}")
        one["labels"].update(
            instance=f"web-{n}.prod.internal:9100", team="platform", region="eu-west-1", pod=f"web-{n}"
        )
        one["annotations"]["description"] = "The disk has been filling for 30 minutes; see the runbook. " * 4
        alerts.append(one)
    body = json.dumps(alertmanager_payload("firing", alerts))
    assert len(body) > 2.5 * 1024 * 1024
    response = client.post(
        "/api/incidents/alertmanager", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {admin_key}"
    )
    assert response.status_code == 200, response.content[:300]
    assert len(response.json()["raised"]) == 10_000
    assert Incident.objects.count() == 10_000
