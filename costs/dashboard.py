"""Context for the "Cost" dashboard card."""

from . import services
from .forecast import forecast


def card_context(request) -> dict:
    current = services.status()
    outlook = forecast()
    for cap in current["caps"]:
        cap["bar_pct"] = min(100, round(cap["utilization_pct"]))
        cap["label"] = "all AI spend" if cap["scope"] == "daily" else cap["key"]
    return {"status": current, "budget": outlook["budget"], "next_30_days_usd": outlook["total"]["next_30_days_usd"]}
