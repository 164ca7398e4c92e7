"""The portal with its neighbours: the incidents app, the card's calls, counters under real races."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from incidents.services import summarize
from portal import services
from portal.models import RateBucket
from tests.races import race

from .conftest import checkout_session_completed

pytestmark = pytest.mark.django_db


def test_repeated_bad_webhook_signatures_raise_one_warning_incident(post_event, settings):
    settings.PORTAL_WEBHOOK_FAILURES_BEFORE_INCIDENT = 3
    for _ in range(5):
        assert post_event(checkout_session_completed(), secret="whsec_attacker").status_code == 400
    groups = [g for g in summarize()["groups"] if g["fingerprint"] == "portal:stripe-webhook-signature"]
    assert len(groups) == 1
    assert groups[0]["severity"] == "WARNING" and groups[0]["source"] == "portal"
    assert groups[0]["count"] == 1


def test_a_few_bad_signatures_raise_nothing(post_event, settings):
    settings.PORTAL_WEBHOOK_FAILURES_BEFORE_INCIDENT = 3
    post_event(checkout_session_completed(), secret="whsec_attacker")
    assert summarize()["groups"] == []


def test_the_test_incident_call_works_with_the_staff_session(django_user_model):
    """The incidents card POSTs to /api/incidents/raise with the session cookie and the csrftoken as
    X-CSRFToken."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(django_user_model.objects.create_superuser("ops", "ops@example.com", "pw"))
    page = browser.get("/admin/")
    assert "incidentsRaiseTest()" in page.content.decode()
    token = browser.cookies["csrftoken"].value
    body = {"severity": "WARNING", "msg": "Test incident from the Customer Portal card", "source": "portal"}
    assert browser.post("/api/incidents/raise", body, content_type="application/json").status_code == 403
    response = browser.post("/api/incidents/raise", body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201
    assert response.json()["id"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_requests_share_one_exact_rate_limit_counter():
    """Twelve workers hit a limit of five at the same instant: exactly five get through."""
    now = timezone.now()
    verdicts = race(lambda _: services.hit("download:203.0.113.50", 5, timedelta(minutes=1), now=now), range(12))
    assert sorted(verdicts) == [False] * 5 + [True] * 7


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_hits_and_give_backs_lose_no_update():
    """Six failed sends give their slots back while six others take one, all at the same instant."""
    now, window, key = timezone.now(), timedelta(hours=1), "email:jenny.rosen@example.com"
    for _ in range(6):
        services.count_hit(key, window, now)

    def hit_or_give_back(i):
        if i % 2:
            services.give_back_hit(key, window, now)
        else:
            services.count_hit(key, window, now)

    race(hit_or_give_back, range(12))
    assert RateBucket.objects.get(key=key).count == 6
