"""Demo inbox: a few incidents of every severity, one deduplicated repeat, one resolved; nothing pages."""

from datetime import timedelta

from .models import Incident
from .services import raise_incident, resolve_incident, silence

DEMO_SOURCE_PREFIX = "demo-"


def load(now) -> str:
    """Add the demo incidents (raising them again only bumps counts; nothing pages twice)."""
    if Incident.objects.filter(source__startswith=DEMO_SOURCE_PREFIX).exists():
        return "demo incidents already loaded"
    hour = timedelta(hours=1)
    # Demo incidents are made up: silence the CRITICAL ones first, so loading them never pages anyone.
    for source in ("demo-billing", "demo-batch"):
        silence(source=source, hours=24, by="demo", reason="demo data never pages", now=now)
    for minutes in (50, 35, 20, 5):
        raise_incident(
            "ERROR",
            f"checkout timeout after {3000 + minutes} ms",
            "demo-checkout",
            {"route": "/pay"},
            now=now - timedelta(minutes=minutes),
        )
    raise_incident("WARNING", "disk 83% full on db-1", "demo-db", {"host": "db-1"}, now=now - 3 * hour)
    raise_incident("INFO", "deploy 2026.11.22-1 finished", "demo-deploy", now=now - 2 * hour)
    raise_incident(
        "CRITICAL",
        "payments provider answering 502",
        "demo-billing",
        fingerprint="demo-billing-502",
        now=now - 5 * hour,
    )
    resolve_incident("demo-billing-502", by="demo", note="provider recovered", now=now - 4 * hour)
    raise_incident("CRITICAL", "nightly export failed", "demo-batch", now=now - timedelta(minutes=30))
    count = Incident.objects.filter(source__startswith=DEMO_SOURCE_PREFIX).count()
    return f"{count} demo incidents (1 resolved; silenced, so nothing pages)"
