"""manage.py customer_portal: the same service functions from the shell."""
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

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
    from tests.loopback import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", free_port(), False
    with pytest.raises(CommandError, match="mail server"):
        run("send-link", "jenny.rosen@example.com")
