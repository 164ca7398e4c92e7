"""The one clock every host shares: the database's.

Leases, due times and shared send slots compared across hosts must come from one clock, or a host
whose clock runs ahead takes over work still in hand and pushes shared slots forward.
"""

from datetime import datetime

from django.db import connection
from django.utils import timezone


def db_now() -> datetime:
    """The database's current time (PostgreSQL's clock_timestamp(), which moves within a
    transaction); on SQLite, which lives on one host, this host's clock."""
    if connection.vendor != "postgresql":
        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]
