"""manage.py customer_portal: the same service functions from the shell."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from portal import mail
from portal.models import RateBucket
from tests.loopback import smtp_server

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("customer_portal", *args, stdout=out)
    return out.getvalue()


def test_receipts_prints_working_links(client, purchases):
    output = run("receipts", "JENNY.ROSEN@example.com")
    links = re.findall(r"https://portal\.example\.test(/api/portal/download\?token=\S+)", output)
    assert len(links) == 2
    assert "REFUNDED" not in output and "refunded" in output
    assert client.get(links[0]).status_code == 200


def test_revoke_stops_the_links_printed_before(client, purchases):
    link = re.search(r"https://portal\.example\.test(\S+)", run("receipts", "jenny.rosen@example.com")).group(1)
    assert "generation 1" in run("revoke", "jenny.rosen@example.com")
    assert client.get(link).status_code == 403


def test_an_unknown_customer_is_an_error():
    with pytest.raises(CommandError):
        run("revoke", "nobody@example.com")


def test_send_link_to_an_unknown_customer_is_an_error():
    with pytest.raises(CommandError, match="no customer"):
        run("send-link", "nobody@example.com")


def test_send_link_with_the_mail_server_down_is_a_one_line_error(purchases, settings):
    point_django_at_a_closed_port(settings)
    with pytest.raises(CommandError, match="mail server"):
        run("send-link", "jenny.rosen@example.com")


def point_django_at_a_closed_port(settings):
    from tests.loopback import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", free_port(), False


def test_the_mail_server_error_names_the_variable_operators_set(customer, settings):
    point_django_at_a_closed_port(settings)
    with pytest.raises(CommandError, match="check SMTP_HOST"):
        run("send-link", customer.email)


def test_failed_sends_do_not_use_up_the_hourly_limit(customer, settings):
    settings.PORTAL_EMAIL_RATE_PER_HOUR = 3
    point_django_at_a_closed_port(settings)
    for _ in range(3):
        with pytest.raises(CommandError, match="mail server"):
            run("send-link", customer.email)
    with smtp_server() as (inbox, port):
        settings.EMAIL_PORT = port
        assert run("send-link", customer.email).strip() == f"{customer.email}: sent"
        assert inbox.arrived.wait(5)
    assert [m.rcpt_tos for m in inbox.messages] == [[customer.email]]


def test_a_throttled_send_is_an_error(smtp_inbox, customer, settings):
    settings.PORTAL_EMAIL_RATE_PER_HOUR = 1
    run("send-link", customer.email)
    with pytest.raises(CommandError, match="not sent") as raised:
        run("send-link", customer.email)
    assert raised.value.returncode != 0
    assert len(smtp_inbox.messages) == 1


def test_a_throttled_send_does_not_count_against_the_limit(smtp_inbox, customer, settings):
    settings.PORTAL_EMAIL_RATE_PER_HOUR = 1
    now = timezone.now()
    assert mail.send_receipts_link(customer.email, requested=True, now=now) == "sent"
    assert mail.send_receipts_link(customer.email, requested=True, now=now) == "throttled"
    assert RateBucket.objects.get(key=f"email:{customer.email}").count == 1


def test_receipts_of_a_customer_without_purchases_says_so(customer):
    assert run("receipts", customer.email).strip() == "jenny.rosen@example.com: no purchases"
