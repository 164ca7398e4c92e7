"""A first run as a new operator meets it: no SMTP, no Stripe secret, links on the served address."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import CommandError, call_command
from django_q.models import OrmQ

from tests.portal.conftest import charge_succeeded

pytestmark = pytest.mark.django_db

SMTP = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture
def no_smtp(settings):
    """A server as installed: Django's SMTP backend, SMTP_HOST never set."""
    settings.EMAIL_BACKEND = SMTP
    settings.SMTP_HOST = ""
    settings.EMAIL_HOST = ""
    return settings


@pytest.fixture
def staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("op", "op@example.com", "pw"))
    return client


def test_without_smtp_the_form_says_email_is_not_set_up_instead_of_promising(client, no_smtp, customer):
    page = client.get("/portal/")
    assert page.status_code == 503
    assert "Email is not set up on this server" in page.content.decode()
    answer = client.post("/portal/", {"email": customer.email})
    assert answer.status_code == 503
    assert "Check your inbox" not in answer.content.decode()
    assert not OrmQ.objects.exists(), "nothing is queued to fail in the cluster's log"


def test_without_smtp_send_link_says_email_is_not_set_up(no_smtp, customer):
    with pytest.raises(CommandError, match="email is not set up on this server .*set SMTP_HOST"):
        call_command("customer_portal", "send-link", customer.email)


def test_without_smtp_the_admin_action_queues_nothing_and_says_why(staff, no_smtp, customer):
    response = staff.post(
        "/admin/portal/customer/", {"action": "email_receipts_link", ACTION_CHECKBOX_NAME: [customer.pk]}, follow=True
    )
    assert "Nothing queued: email is not set up on this server" in response.content.decode()
    assert not OrmQ.objects.exists()


def test_the_console_email_backend_counts_as_set_up(client, no_smtp, customer):
    no_smtp.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert client.get("/portal/").status_code == 200


def test_without_a_webhook_secret_stripe_gets_a_503_naming_the_setting(post_event, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = post_event(charge_succeeded())
    assert response.status_code == 503
    assert response.json()["fields"] == {"STRIPE_WEBHOOK_SECRET": "not set on this server"}
    assert "STRIPE_WEBHOOK_SECRET" in response.json()["error"]


def test_the_portal_card_names_what_is_not_configured(staff, no_smtp):
    no_smtp.STRIPE_WEBHOOK_SECRET = ""
    html = staff.get("/admin/").content.decode()
    card = html[html.index('id="card-portal"') :]
    assert "STRIPE_WEBHOOK_SECRET is not set" in card
    assert "SMTP_HOST is not set" in card


def test_a_configured_portal_card_shows_no_setup_problem(staff, settings):
    html = staff.get("/admin/").content.decode()
    assert "portal-setup" not in html[html.index('id="card-portal"') :]


def test_receipts_from_the_shell_say_which_base_url_their_links_use(purchases, capsys):
    call_command("customer_portal", "receipts", "jenny.rosen@example.com")
    assert "links built on PORTAL_BASE_URL=https://portal.example.test" in capsys.readouterr().out
