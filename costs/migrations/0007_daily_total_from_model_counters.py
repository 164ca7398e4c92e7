"""All AI spend of a day is now the sum of its model counters: the rows that kept it separately
(scope "daily") go, so that nothing is counted twice. Backwards, they are summed again from the
model rows, shard by shard."""
from django.db import migrations
from django.db.models import Sum


def drop_daily_rows(apps, schema_editor):
    apps.get_model("costs", "DailyCounter").objects.filter(scope="daily").delete()


def rebuild_daily_rows(apps, schema_editor):
    counter = apps.get_model("costs", "DailyCounter")
    totals = (counter.objects.filter(scope="model").values("day", "shard")
              .annotate(micros=Sum("usd_micros"), n=Sum("reports")))
    counter.objects.bulk_create([
        counter(day=t["day"], scope="daily", key="", shard=t["shard"], usd_micros=t["micros"], reports=t["n"])
        for t in totals
    ])


class Migration(migrations.Migration):
    dependencies = [("costs", "0006_ledger_request_id_constraint")]

    operations = [migrations.RunPython(drop_daily_rows, rebuild_daily_rows)]
