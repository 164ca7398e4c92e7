"""The data migration that made all AI spend the sum of the model counters."""

from datetime import date

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("costs", "0006_ledger_request_id_constraint")]
AFTER = [("costs", "0007_daily_total_from_model_counters")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_the_separate_daily_rows_go_and_come_back_summed_from_the_model_rows():
    day = date(2026, 11, 20)
    counter = migrate(BEFORE).get_model("costs", "DailyCounter")
    for scope, key, shard, micros, reports in [
        ("daily", "", 0, 7_000_000, 3),
        ("daily", "", 1, 2_000_000, 1),
        ("model", "gpt-4o", 0, 5_000_000, 2),
        ("model", "embeddings", 0, 2_000_000, 1),
        ("model", "gpt-4o", 1, 2_000_000, 1),
        ("kind", "stripe_fee", 0, 590_000, 1),
    ]:
        counter.objects.create(day=day, scope=scope, key=key, shard=shard, usd_micros=micros, reports=reports)
    try:
        counter = migrate(AFTER).get_model("costs", "DailyCounter")
        assert not counter.objects.filter(scope="daily").exists()  # else all AI spend would count twice
        assert counter.objects.count() == 4

        counter = migrate(BEFORE).get_model("costs", "DailyCounter")
        rebuilt = counter.objects.filter(scope="daily").order_by("shard").values_list("shard", "usd_micros", "reports")
        assert list(rebuilt) == [(0, 7_000_000, 3), (1, 2_000_000, 1)]
    finally:
        # Every app's latest again, not just AFTER: going back also unapplied the costs migrations after it.
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
