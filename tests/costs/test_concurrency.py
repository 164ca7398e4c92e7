"""Twenty processes reporting at once lose nothing and count nothing twice (PostgreSQL)."""

import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count, Sum

from costs.models import DailyCounter, SpendEntry
from tests.races import race

ROOT = Path(settings.BASE_DIR)
PROCESSES = 20
OWN_REPORTS = 25
SHARED_REPORTS = 10  # every process sends these same request_ids: each must count once
MODELS = ["gpt-4o", "gpt-4o-mini", "embeddings"]

CHILD = r"""
import os, sys, time
from decimal import Decimal
import django
django.setup()
from costs import record_spend
worker, gate = int(sys.argv[1]), sys.argv[2]
open(gate + f".ready{worker}", "w").close()
while not os.path.exists(gate):
    time.sleep(0.01)
models = ["gpt-4o", "gpt-4o-mini", "embeddings"]
own, shared = int(sys.argv[3]), int(sys.argv[4])
for i in range(max(own, shared)):
    if i < own:
        usd = Decimal(worker + 1) / 1000 + Decimal(i) / 1_000_000
        record_spend(model=models[i % 3], usd=usd, request_id=f"w{worker}-{i}")
    if i < shared:
        record_spend(model="gpt-4o", usd=Decimal("0.25"), request_id=f"shared-{i}")
"""


def expected_total() -> Decimal:
    own = sum(Decimal(w + 1) / 1000 + Decimal(i) / 1_000_000 for w in range(PROCESSES) for i in range(OWN_REPORTS))
    return own + Decimal("0.25") * SHARED_REPORTS


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_processes_reporting_at_once_lose_nothing_and_count_nothing_twice(caps, tmp_path, log_dir):
    gate = str(tmp_path / "go")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "echopilot.settings",
        "LOG_DIR": str(log_dir),
        "PYTHONPATH": str(ROOT),
    }
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(w), gate, str(OWN_REPORTS), str(SHARED_REPORTS)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for w in range(PROCESSES)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("go.ready*"))) < PROCESSES and time.monotonic() < deadline:
        time.sleep(0.05)
    Path(gate).touch()  # all twenty start reporting at the same moment
    failures = []
    for child in children:
        out, err = child.communicate(timeout=180)
        if child.returncode != 0:
            failures.append(err.decode()[-2000:])
    assert failures == []

    ledger = SpendEntry.objects.aggregate(total=Sum("usd_micros"), n=Count("id"))
    assert ledger["n"] == PROCESSES * OWN_REPORTS + SHARED_REPORTS
    assert Decimal(ledger["total"]) / 1_000_000 == expected_total()
    daily = DailyCounter.objects.filter(scope="model").aggregate(total=Sum("usd_micros"), n=Sum("reports"))
    assert (daily["total"], daily["n"]) == (ledger["total"], ledger["n"])  # all AI spend: the models' sum
    per_model = dict(SpendEntry.objects.values("model").annotate(t=Sum("usd_micros")).values_list("model", "t"))
    counters = {}
    for key, micros in DailyCounter.objects.filter(scope="model").values_list("key", "usd_micros"):
        counters[key] = counters.get(key, 0) + micros
    assert counters == per_model
    assert set(per_model) == set(MODELS)
    # The processes wrote to several shards of each counter, and the shards add up to the ledger.
    assert DailyCounter.objects.filter(scope="model", key=MODELS[0]).count() > 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_report_raced_by_threads_is_counted_once(caps):
    from costs import record_spend

    results = race(lambda _: record_spend(model="gpt-4o", usd=Decimal("1.5"), request_id="retry-storm"), range(10))
    assert len(results) == 10
    assert sum(not r.duplicate for r in results) == 1
    assert len({r.decision.decision for r in results}) == 1
    assert DailyCounter.objects.get(scope="model", key="gpt-4o").usd_micros == 1_500_000
    assert DailyCounter.objects.get().reports == 1  # one counter row, one report
