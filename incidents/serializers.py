"""What the incident endpoints accept: our own raise body, Alertmanager v4 (and Grafana Alerting v1),
PagerDuty Events v2."""

from typing import Any

from django.core.exceptions import ValidationError
from rest_framework import serializers

from .models import SEVERITIES
from .services import storable_json

# One notification's alerts are handled in one request: past this, a worker would run into
# gunicorn's timeout and the sender would retry the same storm. (Alertmanager: `max_alerts`.)
MAX_ALERTS = 10_000
MAX_NOTE_CHARS = 4000
# Alertmanager's webhook is version "4"; Grafana Alerting sends the same alerts as version "1".
WEBHOOK_VERSIONS = ("4", "1")

# Alertmanager and PagerDuty senders use their own words for severity; map them onto ours.
SEVERITY_WORDS = {
    "CRITICAL": ["critical", "crit", "fatal", "emergency", "alert", "page", "p1", "disaster"],
    "ERROR": ["error", "err", "major", "high", "p2"],
    "WARNING": ["warning", "warn", "minor", "medium", "average", "p3"],
    "INFO": ["info", "informational", "notice", "low", "none", "ok", "p4", "p5"],
}
_WORD_TO_SEVERITY = {word: sev for sev, words in SEVERITY_WORDS.items() for word in words}


def severity_from_word(word, default="WARNING") -> str:
    """Our severity for an outside tool's label (unknown or missing: `default`)."""
    return _WORD_TO_SEVERITY.get(str(word or "").strip().lower(), default)


def plain_json(value) -> None:
    """Refuse what parses but cannot be stored as JSON: nesting past orjson's 254 levels, or a NUL
    character in a key or a string, which PostgreSQL refuses."""
    try:
        storable_json(value)
    except ValidationError as exc:
        raise serializers.ValidationError(" ".join(exc.messages)) from exc


class SeverityField(serializers.CharField):
    """INFO, WARNING, ERROR or CRITICAL in any case; stored upper-case."""

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError(f"must be one of {', '.join(SEVERITIES)}")
        value = data.strip().upper()
        if value not in SEVERITIES:
            raise serializers.ValidationError(f"must be one of {', '.join(SEVERITIES)}")
        return value


class RaiseSerializer(serializers.Serializer):
    severity = SeverityField()
    msg = serializers.CharField(max_length=4000, trim_whitespace=True)
    source = serializers.CharField(max_length=200, required=False, default="api")  # type: ignore[assignment]  # shares Field.source's name
    meta = serializers.DictField(required=False, default=dict, validators=[plain_json])
    fingerprint = serializers.CharField(max_length=255, required=False)
    dedup_key = serializers.CharField(max_length=255, required=False)

    def validate(self, attrs) -> dict[str, Any]:
        attrs["fingerprint"] = attrs.pop("fingerprint", None) or attrs.pop("dedup_key", None)
        attrs.pop("dedup_key", None)
        return attrs


class StrictCharField(serializers.CharField):
    """Text only: a number or a boolean is refused rather than turned into text."""

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ResolveSerializer(serializers.Serializer):
    note = StrictCharField(
        max_length=MAX_NOTE_CHARS, required=False, default="", allow_blank=True, trim_whitespace=False
    )


class IncidentQuerySerializer(serializers.Serializer):
    """GET /api/incidents/: filters (all optional) and the page (PagerDuty's limit and offset)."""

    status = serializers.ChoiceField(choices=["open", "acknowledged", "resolved"], required=False)
    severity = SeverityField(required=False)
    since = serializers.DateTimeField(required=False, help_text="last seen at or after this ISO 8601 time")
    limit = serializers.IntegerField(required=False, default=25, min_value=1, max_value=100)
    offset = serializers.IntegerField(required=False, default=0, min_value=0, max_value=1_000_000)


class SummaryQuerySerializer(serializers.Serializer):
    hours = serializers.FloatField(required=False, default=24, min_value=0.01, max_value=24 * 90)


class AlertSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["firing", "resolved"])
    # Label values are the alert's identity (silences and routes match them): stored exactly as sent.
    labels = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False), validators=[plain_json]
    )
    annotations = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        default=dict,
        validators=[plain_json],
    )
    fingerprint = serializers.CharField(max_length=255, required=False)
    startsAt = serializers.CharField(required=False, allow_blank=True)
    endsAt = serializers.CharField(required=False, allow_blank=True)
    generatorURL = serializers.CharField(required=False, allow_blank=True)

    def validate(self, attrs) -> dict[str, Any]:
        if not attrs.get("fingerprint"):
            # Alertmanager always sends one; for hand-written payloads, the label set identifies the alert.
            attrs["fingerprint"] = "am:" + ",".join(f"{k}={v}" for k, v in sorted(attrs["labels"].items()))[:250]
        return attrs


class AlertmanagerSerializer(serializers.Serializer):
    version = serializers.CharField(required=False)
    status = serializers.CharField(required=False)
    receiver = serializers.CharField(required=False, allow_blank=True)
    alerts = AlertSerializer(many=True, allow_empty=False, max_length=MAX_ALERTS)  # type: ignore[call-arg]  # many=True passes it to the ListSerializer

    def validate_version(self, value) -> str:
        if value not in WEBHOOK_VERSIONS:
            raise serializers.ValidationError(
                "only Alertmanager webhook version 4 and Grafana Alerting webhook version 1 are understood"
            )
        return value


class EventPayloadSerializer(serializers.Serializer):
    summary = serializers.CharField(max_length=1024)
    source = serializers.CharField(max_length=255)  # type: ignore[assignment]  # shares Field.source's name
    severity = serializers.ChoiceField(choices=["critical", "error", "warning", "info"])
    component = serializers.CharField(required=False, allow_blank=True)
    group = serializers.CharField(required=False, allow_blank=True)
    custom_details = serializers.JSONField(required=False, validators=[plain_json])

    def to_internal_value(self, data) -> dict[str, Any]:
        if isinstance(data, dict) and isinstance(data.get("severity"), str):
            data = {**data, "severity": data["severity"].lower()}
        return super().to_internal_value(data)


class EventSerializer(serializers.Serializer):
    """PagerDuty Events API v2. A trigger needs a payload; acknowledge and resolve need a dedup_key."""

    routing_key = serializers.CharField(required=False, write_only=True)
    event_action = serializers.ChoiceField(choices=["trigger", "acknowledge", "resolve"])
    dedup_key = serializers.CharField(max_length=255, required=False)
    payload = EventPayloadSerializer(required=False)

    def validate(self, attrs) -> dict[str, Any]:
        if attrs["event_action"] == "trigger" and "payload" not in attrs:
            raise serializers.ValidationError({"payload": "a trigger event needs a payload"})
        if attrs["event_action"] != "trigger" and not attrs.get("dedup_key"):
            raise serializers.ValidationError({"dedup_key": f"an {attrs['event_action']} event needs the dedup_key"})
        return attrs
