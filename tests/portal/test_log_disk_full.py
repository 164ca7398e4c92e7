"""A receipt download while the log disk is full: the access is audited in the database and the
customer gets the PDF; the failed NDJSON line is counted (tests/echopilot/test_log_disk_full.py)."""

import os

import pytest
from prometheus_client import REGISTRY

from portal import services
from portal.models import AccessLog

pytestmark = pytest.mark.django_db


def test_a_receipt_downloads_while_the_log_disk_is_full(client, purchases, log_dir):
    log_dir.mkdir(parents=True, exist_ok=True)
    os.symlink("/dev/full", log_dir / "portal_access.ndjson")
    before = REGISTRY.get_sample_value("echopilot_log_write_failures_total", {"file": "portal_access.ndjson"}) or 0
    token = services.download_link(purchases[0]).token
    response = client.get("/api/portal/download", {"token": token})
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF-")
    assert AccessLog.objects.filter(status=200).exists()
    after = REGISTRY.get_sample_value("echopilot_log_write_failures_total", {"file": "portal_access.ndjson"})
    assert after == before + 1
