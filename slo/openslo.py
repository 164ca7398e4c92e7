"""SLO definitions in and out as OpenSLO (`openslo/v1`, kind SLO, Occurrences budgeting), and in from
sloth's `prometheus/v1` specs.

One console SLO is one OpenSLO document with a ratio indicator (good = responses whose status is
not an error) and up to three objectives: the availability target, and optional p95 / p99 latency
thresholds (`op: lte`, `value` in ms, `target` 0.95 / 0.99). Console-only settings ride in
annotations. The console judges the requests it ingests for the SLO's service; the indicator's
queries (Prometheus, Datadog...) name where the sender measures them and are not run.
"""

import math
import re
from dataclasses import dataclass, field
from typing import Any

import orjson
import yaml
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from .ingest import SERVICE_RE
from .models import Slo

API_VERSION = "openslo/v1"
ANNOTATION = "echopilot.ai/"
SLOTH_VERSION = "prometheus/v1"
TEXT_FIELDS = {
    "name": "metadata.name",
    "service": "spec.service",
    "route": f"metadata.annotations.{ANNOTATION}route",
    "error_statuses": f"metadata.annotations.{ANNOTATION}error-statuses",
}
# Where a model field comes from, for full_clean's errors: the document's words, not ours.
OPENSLO_FIELDS = {
    **TEXT_FIELDS,
    "p95_ms": "spec.objectives (value of the target 0.95 latency objective)",
    "p99_ms": "spec.objectives (value of the target 0.99 latency objective)",
    "error_budget_pct": "spec.objectives (target of the availability objective)",
    "window_days": "spec.timeWindow[0].duration",
    "min_events": f"metadata.annotations.{ANNOTATION}min-events",
}
SLOTH_FIELDS = {
    "name": "service and slos[].name (the SLO is named <service>-<name>)",
    "service": "service",
    "error_budget_pct": "slos[].objective",
    "error_statuses": "slos[].sli.events.error_query",
    "window_days": "SLO_WINDOW_DAYS (the console's window)",
}
# The spec's duration shorthands; a month, quarter and year as the days a rolling window holds.
DURATION_DAYS = {"s": 1 / 86400, "m": 1 / 1440, "h": 1 / 24, "d": 1, "w": 7, "M": 30, "Q": 90, "Y": 365}
_DURATION = re.compile(r"([1-9][0-9]{0,8})([smhdwMQY])")  # fullmatch: "$" would let "30d\n" in
MAX_WINDOW_DAYS = 365
LATENCY_TARGETS = {0.95: "p95_ms", 0.99: "p99_ms"}
# The status matcher of a sloth error query: code=~"(5..|429)" or code="503" (status, code, status_code).
_STATUS_MATCHER = re.compile(r"\b(?:code|status|status_code)=~?\"([^\"]+)\"")


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
            "objectives": [{"displayName": "availability", "target": round(1 - slo.error_budget_pct / 100, 6)}]
            + [
                {"displayName": f"{key} latency", "op": "lte", "value": ms, "target": target}
                for (key, ms), target in zip(slo.latency_objectives().items(), _latency_targets(slo), strict=True)
            ],
        },
    }


def _latency_targets(slo: Slo) -> list[float]:
    by_key = {field[:3]: target for target, field in LATENCY_TARGETS.items()}
    return [by_key[key] for key in slo.latency_objectives()]


def export_all() -> list[dict]:
    return [export_slo(slo) for slo in Slo.objects.all()]


def load_documents(text: str) -> list[dict]:
    """The documents of a YAML (one or more, ---, each a document or a sequence of them, as the
    OpenSLO Go SDK writes) or JSON (one or a list) file."""
    try:
        data = orjson.loads(text)
        return data if isinstance(data, list) else [data]
    except orjson.JSONDecodeError:
        pass
    try:
        streamed = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ValidationError(f"not YAML or JSON: {exc}") from exc
    return [doc for item in streamed for doc in (item if isinstance(item, list) else [item])]


def fields_from(doc: dict, notes: list | None = None) -> dict:
    """The Slo fields an OpenSLO SLO document describes; ValidationError names the OpenSLO field.

    `notes` collects what the console fills in that the document leaves out (a default window or
    error budget).
    """
    notes = notes if notes is not None else []
    if not isinstance(doc, dict) or doc.get("kind") != "SLO":
        raise ValidationError("kind: must be SLO")
    if doc.get("apiVersion") != API_VERSION:
        raise ValidationError(f"apiVersion: only {API_VERSION} is understood, not {str(doc.get('apiVersion'))[:40]!r}")
    meta, spec = _mapping(doc.get("metadata"), "metadata"), _mapping(doc.get("spec"), "spec")
    annotations = _mapping(meta.get("annotations"), "metadata.annotations")
    budgeting = spec.get("budgetingMethod", "Occurrences")
    if budgeting != "Occurrences":
        raise ValidationError(
            f"spec.budgetingMethod: only Occurrences budgeting is supported, not {str(budgeting)[:40]!r}"
        )
    _require_indicator(spec)
    fields = {
        "name": meta.get("name"),
        "service": spec.get("service"),
        "route": annotations.get(f"{ANNOTATION}route", ""),
        "window_days": _window_days(spec.get("timeWindow"), notes),
        "error_statuses": annotations.get(f"{ANNOTATION}error-statuses", "5xx"),
        "p95_ms": None,
        "p99_ms": None,
    }
    if f"{ANNOTATION}min-events" in annotations:
        fields["min_events"] = _number(
            annotations[f"{ANNOTATION}min-events"], f"metadata.annotations.{ANNOTATION}min-events", whole=True
        )
    fields.update(_objectives(_list(spec.get("objectives"), "spec.objectives")))
    _check_text(fields)
    missing = [TEXT_FIELDS[k] for k in ("name", "service") if fields.get(k) in (None, "")]
    if missing:
        raise ValidationError(f"{', '.join(missing)}: required")
    if "error_budget_pct" not in fields:
        if fields["p95_ms"] is None and fields["p99_ms"] is None:
            raise ValidationError("spec.objectives: at least one objective is required")
        fields["error_budget_pct"] = settings.SLO_ERR_BUDGET_DAILY_PCT
        notes.append(f"no availability objective: the error budget is the console's {fields['error_budget_pct']:g}%")
    return fields


def _require_indicator(spec: dict) -> None:
    """An SLI inline (`spec.indicator`) or by name (`spec.indicatorRef`, found in the file or not).

    Its queries (Prometheus, Datadog...) say where the sender measures; the console judges the
    requests it ingests for the service, so only the objectives decide what an SLO promises.
    """
    if "indicator" in spec:
        indicator = _mapping(spec["indicator"], "spec.indicator")
        _mapping(indicator.get("spec"), "spec.indicator.spec")
        return
    ref = spec.get("indicatorRef")
    if not isinstance(ref, str) or not ref:
        raise ValidationError("spec.indicator or spec.indicatorRef: one is required")


def _check_text(fields: dict) -> None:
    for key, where in TEXT_FIELDS.items():
        if not isinstance(fields[key], (str, type(None))):
            raise ValidationError(f"{where} must be text")
        if "\x00" in (fields[key] or ""):  # PostgreSQL cannot store a NUL in a text column
            raise ValidationError(f"{where} must not contain a NUL character")
    if fields["service"] and not SERVICE_RE.fullmatch(fields["service"]):
        # Ingest refuses any other name, so such an SLO could never get data.
        raise ValidationError(f"{TEXT_FIELDS['service']} must be 1-100 letters, digits, . _ - (as ingest accepts)")


def _window_days(windows, notes: list) -> int:
    """Days of the first rolling time window; the console's SLO_WINDOW_DAYS when there is none."""
    if not windows:
        notes.append(f"no spec.timeWindow: the console's {settings.SLO_WINDOW_DAYS}-day rolling window")
        return settings.SLO_WINDOW_DAYS
    window = _mapping(_list(windows, "spec.timeWindow")[0], "spec.timeWindow[0]")
    if window.get("calendar") is not None or window.get("isRolling") is False:
        raise ValidationError("spec.timeWindow[0].calendar: calendar windows are not supported, only rolling ones")
    duration = str(window.get("duration", ""))
    match = _DURATION.fullmatch(duration)
    if not match:
        raise ValidationError("spec.timeWindow[0].duration: must be a duration shorthand such as 28d, 4w, 1M or 720h")
    days = int(match.group(1)) * DURATION_DAYS[match.group(2)]
    if days != int(days) or not 1 <= days <= MAX_WINDOW_DAYS:
        raise ValidationError(
            f"spec.timeWindow[0].duration: {duration} must be a whole number of days from 1 to {MAX_WINDOW_DAYS}"
        )
    return int(days)


def _objectives(objectives: list) -> dict:
    """Slo fields from the objectives: one without `op` is availability, `op` lt/lte with `value` a
    latency threshold at target 0.95 (p95) or 0.99 (p99)."""
    out: dict = {}
    for n, objective in enumerate(objectives):
        where = f"spec.objectives[{n}]"
        objective = _mapping(objective, where)
        if "timeSliceTarget" in objective or "timeSliceWindow" in objective:
            raise ValidationError(f"{where}.timeSliceTarget: timeslice budgeting is not supported")
        target = _target(objective, where)
        if "op" not in objective:
            if "error_budget_pct" in out:
                raise ValidationError(f"{where}.target: only one availability objective per SLO")
            out["error_budget_pct"] = round((1 - target) * 100, 6)
            continue
        key = LATENCY_TARGETS.get(round(target, 9))
        if objective["op"] not in ("lte", "lt") or key is None:
            raise ValidationError(f"{where}: a latency objective must be op lt or lte with target 0.95 or 0.99")
        out[key] = _number(objective.get("value"), f"{where}.value")
    return out


def _target(objective: dict, where: str) -> float:
    target = objective.get("target")
    if target is None and objective.get("targetPercent") is not None:
        target = _number(objective["targetPercent"], f"{where}.targetPercent") / 100
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target < 1:
        raise ValidationError(f"{where}.target: must be a number between 0 and 1")
    return float(target)


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


def _number(value, where: str, whole: bool = False) -> int | float:
    """A finite number (YAML and JSON give numbers; a quoted one is taken too)."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or (whole and number != int(number)):
        raise ValidationError(f"{where} must be a {'whole' if whole else 'finite'} number")
    return int(number) if whole else number


@dataclass
class Imported:
    """What an import did: each SLO with "created", "updated" or "unchanged" (the file says what
    it already says), and notes on what it skipped or filled in."""

    slos: list[tuple[Slo, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def import_text(text: str) -> list[tuple[Slo, str]]:
    """Create or update one Slo per OpenSLO SLO document (all or none); returns (slo, outcome) pairs:
    "created", "updated" or "unchanged"."""
    return import_file(text).slos


@transaction.atomic
def import_file(text: str, file_format: str = "openslo") -> Imported:
    """Create or update one Slo per SLO of an OpenSLO or sloth (`prometheus/v1`) file, all or none.

    OpenSLO: a YAML stream, a YAML sequence or JSON; documents of other kinds (Service, SLI,
    DataSource, AlertPolicy...) are skipped with a note; SLIs inline or by `indicatorRef`. sloth: one
    spec per YAML document, one SLO per entry of its `slos`. ValidationError names the document
    (its number and name) and the field as the format spells it; a file without any SLO is refused.
    """
    docs = load_documents(text)
    result = Imported()
    found = _sloth_slos(docs) if file_format == "sloth" else _openslo_slos(docs, result.notes)
    if not found:
        kind = "sloth" if file_format == "sloth" else "OpenSLO"
        raise ValidationError(f"no {kind} SLO in it" + (f" ({'; '.join(result.notes)})" if result.notes else ""))
    where = SLOTH_FIELDS if file_format == "sloth" else OPENSLO_FIELDS
    for label, read in found:
        notes: list[str] = []
        try:
            fields = read(notes)
            result.slos.append(_save(fields))
        except ValidationError as exc:
            raise ValidationError(f"{label}: {'; '.join(_messages(exc, where))}") from exc
        result.notes += [f"{label}: {note}" for note in notes]
    return result


def _openslo_slos(docs: list, notes: list) -> list:
    """(label, reader) of each SLO document; other kinds (an SLI an `indicatorRef` names among
    them) noted as skipped."""
    found = []
    for number, doc in enumerate(docs, start=1):
        label = _document_label(number, doc)
        if isinstance(doc, dict) and doc.get("version") == SLOTH_VERSION:
            raise ValidationError(f"{label}: a sloth {SLOTH_VERSION} spec; import it with --format sloth")
        kind = doc.get("kind") if isinstance(doc, dict) else None
        if kind != "SLO":
            notes.append(f"{label}: kind {str(kind)[:40]} skipped (only SLO documents become SLOs)")
            continue
        found.append((label, lambda n, doc=doc: fields_from(doc, n)))
    return found


def _sloth_slos(docs: list) -> list:
    """(label, reader) of each SLO of each sloth `prometheus/v1` spec."""
    found = []
    for number, doc in enumerate(docs, start=1):
        if not isinstance(doc, dict) or doc.get("version") != SLOTH_VERSION:
            raise ValidationError(f"document {number}: version: must be {SLOTH_VERSION!r} (a sloth spec)")
        for n, entry in enumerate(_list(doc.get("slos"), "slos")):
            name = entry.get("name") if isinstance(entry, dict) else None
            label = f"document {number} slos[{n}]" + (f" ({name})" if isinstance(name, str) and name else "")
            found.append((label, lambda notes, doc=doc, n=n: sloth_fields(doc, n, notes)))
    return found


def sloth_fields(spec: dict, n: int, notes: list) -> dict:
    """The Slo fields of entry `n` of a sloth spec's `slos`: named `<service>-<name>` as sloth names
    its SLO ids, the error budget 100 - `objective`, over the console's window (sloth's own default
    period is 30 days, and a spec does not carry one)."""
    entry = _mapping(spec["slos"][n], f"slos[{n}]")
    service, name = spec.get("service"), entry.get("name")
    for value, where in ((service, "service"), (name, f"slos[{n}].name")):
        if not isinstance(value, str) or not value:
            raise ValidationError(f"{where}: required text")
    objective = _number(entry.get("objective"), f"slos[{n}].objective")
    if not 0 < objective < 100:
        raise ValidationError(f"slos[{n}].objective: must be a percentage above 0 and below 100")
    error_statuses = sloth_error_statuses(_mapping(entry.get("sli"), f"slos[{n}].sli"))
    fields = {
        "name": f"{service}-{name}",
        "service": service,
        "route": "",
        "window_days": settings.SLO_WINDOW_DAYS,
        "error_statuses": error_statuses or "5xx",
        "error_budget_pct": round(100 - objective, 6),
        "p95_ms": None,
        "p99_ms": None,
    }
    try:
        _check_text(fields)
    except ValidationError as exc:
        raise ValidationError(exc.message.replace("spec.service", "service")) from None
    errors = fields["error_statuses"] if error_statuses else "5xx, as its error query names no status codes"
    notes.append(f"judged on the console's own requests of {service} (errors: {errors}), not on the SLI's queries")
    return fields


def sloth_error_statuses(sli: dict) -> str:
    """The statuses an events SLI's `error_query` counts as errors, when it names them the usual way
    (`code=~"(5..|429)"`, `code="503"`), as `error_statuses` ("5xx, 429"); "" when it does not."""
    query = _mapping(sli.get("events"), "sli.events").get("error_query")
    match = _STATUS_MATCHER.search(query) if isinstance(query, str) else None
    if not match:
        return ""
    parts = match.group(1).strip("()").split("|")
    statuses = [_status_class(part.strip()) for part in parts]
    return ", ".join(statuses) if all(statuses) else ""


def _status_class(pattern: str) -> str:
    """One alternative of the matcher: `5..` (or `5xx`) is 5xx, `429` is 429; "" for anything else."""
    if re.fullmatch(r"[1-5](\.\.|xx|\[0-9\]\[0-9\]|\\d\\d)", pattern):
        return f"{pattern[0]}xx"
    return pattern if re.fullmatch(r"[1-5][0-9][0-9]", pattern) else ""


def _save(fields: dict) -> tuple[Slo, str]:
    fields = dict(fields)
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


def _name_of(doc) -> str | None:
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) and name else None


def _document_label(number: int, doc) -> str:
    name = _name_of(doc)
    return f"document {number} ({name})" if name else f"document {number}"


def _messages(exc: ValidationError, where: dict) -> list[str]:
    """full_clean's errors with the field of the file each is about (its bare messages do not say)."""
    if not hasattr(exc, "error_dict"):
        return exc.messages
    return [f"{where.get(key, key)}: {message}" for key, messages in exc.message_dict.items() for message in messages]
