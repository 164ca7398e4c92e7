"""The database cache's table (used when REDIS_URL is empty): made by `migrate`, so no deploy can
forget `createcachetable` and leave queue status and the portal's rate limits answering 500."""
from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # createcachetable reads settings.CACHES: it does nothing for Redis, or when the table exists.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("echopilot", "0002_api_roles_for_staff")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
