"""SLO definitions in and out as OpenSLO (`openslo/v1`, kind SLO, Occurrences budgeting).

One console SLO is one OpenSLO document with a ratio indicator (good = responses whose status is
not an error) and three objectives: the availability target, and p95 / p99 latency thresholds
(`op: lte`, `value` in ms, `target` 0.95 / 0.99). Console-only settings ride in annotations.
"""

import math
import re
from typing import Any

import orjson
import yaml
from django.core.exceptions import ValidationError
from django.db import transaction

from .ingest import SERVICE_RE
from .models import Slo

API_VERSION = "openslo/v1"
ANNOTATION = "echopilot.ai/"
TEXT_FIELDS = {
    "name": "metadata.name",
    "service": "spec.service",
    "route": f"metadata.annotations.{ANNOTATION}route",
    "error_statuses": f"metadata.annotations.{ANNOTATION}error-statuses",
}
_DURATION = re.compile(r"([0-9]+)([dwh])")  # fullmatch: "$" would let "30d\n" in


def export_slo(slo: Slo) -> dict:
    """The OpenSLO document of one SLO."""
    source: dict[str, Any] = {"type": "echopilot", "spec": {"service": slo.service, "route": slo.route or "*"}}
    return {
        "apiVersion": API_VERSION,
        "kind": "SLO",
        "metadata": {
            "name": slo.name,
            "displayName": f"{slo.service} {slo.route}".strip(),
            "annotations": {
                f"{ANNOTATION}route": slo.route,
                f"{ANNOTATION}error-statuses": slo.error_statuses,
                f"{ANNOTATION}min-events": str(slo.min_events),
            },
        },
        "spec": {
            "service": slo.service,
            "indicator": {
                "metadata": {"name": f"{slo.name}-requests"},
                "spec": {
                    "ratioMetric": {
                        "counter": True,
                        "good": {
                            "metricSource": {
                                **source,
                                "spec": {**source["spec"], "status": f"not {slo.error_statuses}"},
                            }
                        },
                        "total": {"metricSource": source},
                    }
                },
            },
            "timeWindow": [{"duration": f"{slo.window_days}d", "isRolling": True}],
            "budgetingMethod": "Occurrences",
            "objectives": [
                {"displayName": "availability", "target": round(1 - slo.error_budget_pct / 100, 6)},
                {"displayName": "p95 latency", "op": "lte", "value": slo.p95_ms, "target": 0.95},
                {"displayName": "p99 latency", "op": "lte", "value": slo.p99_ms, "target": 0.99},
            ],
        },
    }


def export_all() -> list[dict]:
    return [export_slo(slo) for slo in Slo.objects.all()]


def load_documents(text: str) -> list[dict]:
    """The documents of a YAML (one or more, ---) or JSON (one or a list) file."""
    try:
        data = orjson.loads(text)
        docs = data if isinstance(data, list) else [data]
    except orjson.JSONDecodeError:
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as exc:
            raise ValidationError(f"not YAML or JSON: {exc}") from exc
    return docs


def fields_from(doc: dict) -> dict:
    """The Slo fields an OpenSLO SLO document describes; ValidationError names what is wrong."""
    if not isinstance(doc, dict) or doc.get("apiVersion") != API_VERSION or doc.get("kind") != "SLO":
        raise ValidationError("each document must be apiVersion openslo/v1, kind SLO")
    meta, spec = _mapping(doc.get("metadata"), "metadata"), _mapping(doc.get("spec"), "spec")
    notes = _mapping(meta.get("annotations"), "metadata.annotations")
    if spec.get("budgetingMethod", "Occurrences") != "Occurrences":
        raise ValidationError("only Occurrences budgeting is supported")
    fields = {
        "name": meta.get("name"),
        "service": spec.get("service"),
        "route": notes.get(f"{ANNOTATION}route", ""),
        "window_days": _window_days(spec.get("timeWindow")),
        "error_statuses": notes.get(f"{ANNOTATION}error-statuses", "5xx"),
    }
    if f"{ANNOTATION}min-events" in notes:
        fields["min_events"] = _number(notes[f"{ANNOTATION}min-events"], f"{ANNOTATION}min-events", whole=True)
    fields.update(_objectives(_list(spec.get("objectives"), "spec.objectives")))
    _check_text(fields)
    missing = [k for k in ("name", "service", "error_budget_pct", "p95_ms", "p99_ms") if fields.get(k) in (None, "")]
    if missing:
        raise ValidationError(f"missing {', '.join(missing)}")
    return fields


def _check_text(fields: dict) -> None:
    for key, where in TEXT_FIELDS.items():
        if not isinstance(fields[key], (str, type(None))):
            raise ValidationError(f"{where} must be text")
        if "\x00" in (fields[key] or ""):  # PostgreSQL cannot store a NUL in a text column
            raise ValidationError(f"{where} must not contain a NUL character")
    if fields["service"] and not SERVICE_RE.fullmatch(fields["service"]):
        # Ingest refuses any other name, so such an SLO could never get data.
        raise ValidationError(f"{TEXT_FIELDS['service']} must be 1-100 letters, digits, . _ - (as ingest accepts)")


def _window_days(windows) -> int:
    if not windows:
        raise ValidationError("spec.timeWindow is required (a rolling window such as 30d)")
    window = _mapping(_list(windows, "spec.timeWindow")[0], "spec.timeWindow[0]")
    match = _DURATION.fullmatch(str(window.get("duration", "")))
    if not match or not window.get("isRolling", False):
        raise ValidationError("spec.timeWindow must be rolling, with a duration like 30d, 4w or 720h")
    n, unit = int(match.group(1)), match.group(2)
    days = {"d": n, "w": 7 * n, "h": n / 24}[unit]
    if days != int(days) or days < 1:
        raise ValidationError("spec.timeWindow duration must be a whole number of days")
    return int(days)


def _objectives(objectives: list) -> dict:
    out = {}
    for n, objective in enumerate(objectives):
        objective = _mapping(objective, f"spec.objectives[{n}]")
        target = objective.get("target")
        if target is None and objective.get("targetPercent") is not None:
            target = _number(objective["targetPercent"], f"spec.objectives[{n}].targetPercent") / 100
        if not isinstance(target, (int, float)) or not 0 < target < 1:
            raise ValidationError("every objective needs a target between 0 and 1")
        if "op" not in objective:
            out["error_budget_pct"] = round((1 - target) * 100, 6)
        elif objective["op"] in ("lte", "lt") and abs(target - 0.95) < 1e-9:
            out["p95_ms"] = _number(objective.get("value"), f"spec.objectives[{n}].value")
        elif objective["op"] in ("lte", "lt") and abs(target - 0.99) < 1e-9:
            out["p99_ms"] = _number(objective.get("value"), f"spec.objectives[{n}].value")
        else:
            raise ValidationError("latency objectives must be op lte with target 0.95 or 0.99")
    return out


def _mapping(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"{where} must be a mapping")
    return value


def _list(value, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError(f"{where} must be a list")
    return value


def _number(value, where: str, whole: bool = False):
    """A finite number (YAML and JSON give numbers; a quoted one is taken too)."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or (whole and number != int(number)):
        raise ValidationError(f"{where} must be a {'whole' if whole else 'finite'} number")
    return int(number) if whole else number


@transaction.atomic
def import_text(text: str) -> list[tuple[Slo, str]]:
    """Create or update one Slo per document (all or none); returns (slo, what happened) pairs:
    "created", "updated", or "unchanged" when the document says what the SLO already says.

    ValidationError names the document (its number and name) and the field; a file without any
    document is refused too.
    """
    docs = load_documents(text)
    if not docs:
        raise ValidationError("no OpenSLO document in it")
    done = []
    for number, doc in enumerate(docs, start=1):
        try:
            done.append(_import_document(doc))
        except ValidationError as exc:
            raise ValidationError(f"{_document_label(number, doc)}: {'; '.join(_messages(exc))}") from exc
    return done


def _import_document(doc) -> tuple[Slo, str]:
    fields = fields_from(doc)
    name = fields.pop("name")
    slo = Slo.objects.filter(name=name).first() or Slo(name=name)
    created = slo.pk is None
    changed = [key for key, value in fields.items() if getattr(slo, key) != value]
    for key in changed:
        setattr(slo, key, fields[key])
    slo.full_clean()
    if not created and not changed:
        return slo, "unchanged"
    slo.save()
    return slo, "created" if created else "updated"


def _document_label(number: int, doc) -> str:
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    return f"document {number} ({name})" if isinstance(name, str) and name else f"document {number}"


def _messages(exc: ValidationError) -> list[str]:
    """full_clean's errors with the field each is about (its bare messages do not say)."""
    if not hasattr(exc, "error_dict"):
        return exc.messages
    return [
        f"{TEXT_FIELDS.get(key, key)}: {message}" for key, messages in exc.message_dict.items() for message in messages
    ]
