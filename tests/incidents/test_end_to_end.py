"""A CRITICAL raise through the API reaches Telegram and email through a real django-q2 cluster."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from incidents.models import Delivery

ROOT = Path(__file__).resolve().parents[2]


def cluster_env(settings, log_dir):
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DASHBOARD_KEY", "Q_SYNC")}
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        LOG_DIR=str(log_dir),
        Q_WORKERS="1",
        TELEGRAM_API_BASE=settings.TELEGRAM_API_BASE,
        TELEGRAM_BOT_TOKEN=settings.TELEGRAM_BOT_TOKEN,
        TELEGRAM_CHAT_ID=settings.TELEGRAM_CHAT_ID,
        TELEGRAM_MIN_INTERVAL_S="0",
        SMTP_HOST=settings.SMTP_HOST,
        SMTP_PORT=str(settings.SMTP_PORT),
        SMTP_FROM=settings.SMTP_FROM,
        PAGER_EMAIL_TO=",".join(settings.PAGER_EMAIL_TO),
        SLO_RECORD_CONSOLE="false",
    )
    return env


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_critical_raise_pages_telegram_and_email_once_through_the_cluster(api, telegram, smtp, settings, log_dir):
    telegram.script = [(500, {"ok": False, "description": "flaky"})]
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=cluster_env(settings, log_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        started = time.monotonic()
        for _ in range(3):
            response = api.post(
                "/api/incidents/raise",
                {"severity": "CRITICAL", "msg": "checkout down", "source": "e2e"},
                content_type="application/json",
            )
            assert response.status_code in (200, 201)
        assert wait_for(lambda: Delivery.objects.filter(status=Delivery.SENT).count() == 2, 60)
        elapsed = time.monotonic() - started
        print(f"raise -> Telegram and email delivered in {elapsed:.1f} s (cluster start included)")
        assert [r["status"] for r in telegram.requests] == [500, 200]
        assert len(smtp.messages) == 1
        assert "checkout down" in telegram.requests[-1]["json"]["text"]
    finally:
        stop(cluster)


def stop(cluster):
    cluster.terminate()  # the sentinel stops its own workers
    try:
        cluster.wait(timeout=15)
    except subprocess.TimeoutExpired:
        # A cluster that will not wind down in time is still ours to end: its whole process group.
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(timeout=10)
