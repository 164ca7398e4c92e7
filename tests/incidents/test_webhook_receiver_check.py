"""The receiver's check printed in the README accepts a page the pager sent and refuses it replayed
later, changed, or signed with another secret."""

import time
from pathlib import Path

import pytest

from incidents import pager, raise_incident
from incidents.models import Delivery

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_verify():
    text = README.read_text()
    start = text.index("    import hashlib, hmac, time")
    block = (
        text[start : text.index("return hmac.compare_digest(expected, v1)", start)]
        + "return hmac.compare_digest(expected, v1)"
    )
    code = "\n".join(line[4:] for line in block.splitlines())
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace["verify"]


def test_the_readme_check_accepts_a_sent_page_and_refuses_replays_and_forgeries(webhook, settings, monkeypatch):
    settings.PAGER_WEBHOOK_SECRET = "whsec-receiver"
    verify = readme_verify()
    raise_incident("CRITICAL", "queue stuck", "worker")
    pager.deliver(Delivery.objects.get(channel="webhook").pk)
    request = webhook.requests[0]
    body, header = request["raw"], request["headers"]["X-EchoPilot-Signature"]
    assert verify(body, header, "whsec-receiver")
    assert not verify(body.replace(b"queue stuck", b"all is well"), header, "whsec-receiver")
    assert not verify(body, header, "whsec-other")
    later = time.time() + 301
    monkeypatch.setattr(time, "time", lambda: later)
    assert not verify(body, header, "whsec-receiver")
