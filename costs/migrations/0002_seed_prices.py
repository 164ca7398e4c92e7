"""Seed the price table with current list prices and the usual fallbacks; the admin edits them after."""
from decimal import Decimal

from django.db import migrations

PRICES = {
    "gpt-4o": ("2.50", "10.00"),
    "gpt-4o-mini": ("0.15", "0.60"),
    "gpt-4.1": ("2.00", "8.00"),
    "gpt-4.1-mini": ("0.40", "1.60"),
    "gpt-4.1-nano": ("0.10", "0.40"),
    "o3-mini": ("1.10", "4.40"),
    "text-embedding-3-small": ("0.02", "0"),
    "embeddings": ("0.02", "0"),
}
FALLBACKS = {"gpt-4o": "gpt-4o-mini", "gpt-4.1": "gpt-4.1-mini", "gpt-4.1-mini": "gpt-4.1-nano"}


def seed(apps, schema_editor):
    ModelPrice = apps.get_model("costs", "ModelPrice")
    ModelFallback = apps.get_model("costs", "ModelFallback")
    CostConfig = apps.get_model("costs", "CostConfig")
    CostConfig.objects.get_or_create(pk=1)
    for model, (inp, out) in PRICES.items():
        ModelPrice.objects.get_or_create(model=model, defaults={"input_per_mtok": Decimal(inp), "output_per_mtok": Decimal(out)})
    for model, fallback in FALLBACKS.items():
        ModelFallback.objects.get_or_create(model=model, defaults={"fallback": fallback})


class Migration(migrations.Migration):
    dependencies = [("costs", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
