"""Admin sign-in is throttled per username and address (django-axes); lockouts show in the admin."""

import pytest
from axes.models import AccessAttempt

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("op", "op@example.com", "right-horse-battery")


def sign_in(client, password, ip="203.0.113.7", username="op", **extra):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip, **extra)


def test_after_five_wrong_passwords_even_the_right_one_is_refused(client, settings, operator):
    settings.AXES_FAILURE_LIMIT = 5
    assert [sign_in(client, "guess").status_code for _ in range(4)] == [200] * 4  # the form again
    assert sign_in(client, "guess").status_code == 429
    locked = sign_in(client, "right-horse-battery")
    assert locked.status_code == 429 and "_auth_user_id" not in client.session


def test_the_lockout_is_per_username_and_address(client, settings, operator):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        sign_in(client, "guess")
    assert sign_in(client, "right-horse-battery", ip="198.51.100.9").status_code == 302


def test_behind_the_balancer_the_lockout_is_the_clients_not_everyones(client, settings, operator):
    settings.AXES_FAILURE_LIMIT = 2
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(2):
        sign_in(client, "guess", ip="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.7")
    attempt = AccessAttempt.objects.get()
    assert attempt.ip_address == "203.0.113.7" and attempt.failures_since_start == 2
    other = sign_in(client, "right-horse-battery", ip="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.9")
    assert other.status_code == 302


def test_lockouts_are_listed_in_the_admin(client, settings, operator):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        sign_in(client, "guess", ip="203.0.113.66")
    client.force_login(operator)
    page = client.get("/admin/axes/accessattempt/")
    assert page.status_code == 200
    assert "203.0.113.66" in page.content.decode()
