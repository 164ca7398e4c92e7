"""What django-q2 runs. Each task is one call into the pager or the inbox."""

from . import consumer, digest, pager, services


def send_deliveries(ids) -> dict[int, str]:
    """Send the deliveries a raise just recorded (retrying in place while the next try is near)."""
    return {delivery_id: getattr(pager.deliver(delivery_id), "status", "not due") for delivery_id in ids}


def pager_tick() -> dict:
    """Every 5 minutes: remind of unacknowledged incidents, send what is due, read the NDJSON files,
    rewrite incident_summary.json."""
    reminded = services.remind_unacknowledged()
    sent = pager.send_due()
    raised = consumer.consume_logs()
    summary = services.write_summary()
    return {"reminded": reminded, "sent": sent, "raised": raised, "open": summary["open"]}


def digest_tick() -> str:
    """Sends the daily digest once per local day, at or after PAGER_DIGEST_HOUR."""
    result = digest.send_digest_if_due()
    return "digest recorded" if result else ("email off" if result is False else "not due")
