"""What a usage report, an authorize request and an override request may hold, written once.

The fast path (echopilot.fastpath) and the DRF views answer with these checks, and
`services.record_spend` runs them on every report, whoever sends it (a script through the API, the
portal's Stripe fees, the demo data). The serializers in costs.api only document the bodies for the
schema, with the limits read from here.

A report is checked in two steps, each naming every bad field at once: first the form of each field
as JSON sends it (`usage_fields`: a string of at most so many characters, a whole number, an amount,
a date), then, once every field has its form, the report as a whole (`usage_entry`: the model an AI
spend needs, the bounds that keep a typo out of the ledger, ts against now, the price of an amount
not sent). A body wrong in both ways hears of the first step's fields only.
"""

import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from echopilot.validators import require_non_negative_int, require_usd

from . import spend_cache
from .models import CapOverride, CostCap, SpendEntry, usd_to_micros
from .pricing import price_usd

MODEL_MAX_LENGTH = 100
REQUEST_ID_MAX_LENGTH = 200
KINDS = (SpendEntry.AI, SpendEntry.STRIPE_FEE)
FUTURE_SLACK = timedelta(minutes=5)
# No spend of this product predates it; an older ts is a unit or parsing mistake, not a late report.
EARLIEST_TS = datetime(2000, 1, 1, tzinfo=dt_timezone.utc)
# Bounds that keep a typo from overflowing a column (a 500) instead of being refused (a 400).
MAX_REPORT_USD = Decimal(1_000_000_000)
MAX_TOKENS = 10**12
# An override from the API lasts a minute to a day: a cap that must not apply for longer wants raising.
OVERRIDE_MINUTES_DEFAULT = 60
OVERRIDE_MINUTES_MAX = 24 * 60
REASON_MAX_LENGTH = CapOverride.REASON_LENGTH


# --- each field's form -----------------------------------------------------------------------------


def _model(value: Any, field: str) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > MODEL_MAX_LENGTH:
        raise ValidationError({field: f"must be a model name of at most {MODEL_MAX_LENGTH} characters"})
    return value.strip()


def _optional_usd(value: Any, field: str) -> Decimal | None:
    return None if value is None else require_usd(value, field)


def _tokens(value: Any, field: str) -> int:
    return 0 if value is None else require_non_negative_int(value, field)


def _request_id(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool) or len(str(value)) > REQUEST_ID_MAX_LENGTH:
        raise ValidationError({field: f"must be a string of at most {REQUEST_ID_MAX_LENGTH} characters"})
    return str(value)


def _timestamp(value: Any, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):  # from Python callers; JSON sends a string
        parsed: datetime | None = value
    else:
        try:
            # isprintable: Python's ISO parser stops at a NUL and would take "2026-11-24T10:00\x00junk".
            parsed = parse_datetime(value) if isinstance(value, str) and value.isprintable() else None
        except ValueError:  # well-formed but impossible, e.g. February 30th
            parsed = None
    if parsed is None:
        raise ValidationError({field: "must be an ISO 8601 date and time"})
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt_timezone.utc)


def _kind(value: Any, field: str) -> str:
    if value is None:
        return SpendEntry.AI
    if value not in KINDS:
        raise ValidationError({field: "must be 'ai' or 'stripe_fee'"})
    return value


USAGE_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "model": _model,
    "input_tokens": _tokens,
    "output_tokens": _tokens,
    "usd": _optional_usd,
    "request_id": _request_id,
    "ts": _timestamp,
    "kind": _kind,
}
AUTHORIZE_FIELDS: dict[str, Callable[[Any, str], Any]] = {"model": _model, "est_usd": _optional_usd}


def _fields(data: Any, fields: dict[str, Callable[[Any, str], Any]]) -> dict:
    """Every field of `data` in its form, or one ValidationError naming every bad field at once (as
    /api/slo/ingest does). Plain functions rather than a DRF serializer: these bodies come with
    every AI call the product makes, and a serializer costs more than the decision itself."""
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": "expected a JSON object"})
    values: dict = {}
    errors: dict = {}
    for name, check in fields.items():
        try:
            values[name] = check(data.get(name), name)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return values


def usage_fields(data: Any) -> dict:
    """A usage report's fields in their form (absent ones at their defaults), keyed as sent."""
    return _fields(data, USAGE_FIELDS)


def authorize_request(data: Any) -> tuple[str, Decimal | None]:
    """(model, est_usd) of an authorize request; a ValidationError names every bad field."""
    fields = _fields(data, AUTHORIZE_FIELDS)
    if not fields["model"]:
        raise ValidationError({"model": "this field is required"})
    return fields["model"], fields["est_usd"]


# --- the report as a whole -------------------------------------------------------------------------


def usage_entry(data: Any, now: datetime) -> dict:
    """The ledger entry of a usage report (a JSON object, or the same keys from Python): both steps
    of the checks, each naming every bad field at once."""
    fields = usage_fields(data)
    return _entry(**fields, now=now)


def _entry(*, model, usd, input_tokens, output_tokens, kind, request_id, ts, now) -> dict:
    errors: dict = {}
    ts = ts or now
    # A blank id is no id: stored as "", it would make every later blank-id report a "duplicate".
    request_id = (request_id.strip() if request_id is not None else "") or f"auto:{uuid.uuid4().hex}"
    _note(errors, "model", _model_problem(model, kind))
    _note(errors, "ts", _ts_problem(ts, now))
    _note(errors, "request_id", _nul_problem(request_id))
    _note(errors, "input_tokens", _tokens_problem(input_tokens))
    _note(errors, "output_tokens", _tokens_problem(output_tokens))
    priced = usd is None
    # Pricing needs the model and the token counts: without them, only a given amount is checked.
    can_price = not priced or not errors.keys() & {"model", "input_tokens", "output_tokens"}
    amount = _collect(errors, _amount, kind, model, usd, input_tokens, output_tokens, now) if can_price else None
    day = _collect(errors, _cost_day, ts) if "ts" not in errors else None
    if errors:
        raise ValidationError(errors)
    return {
        "request_id": request_id,
        "day": day,
        "ts": ts,
        "kind": kind,
        "model": model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "usd_micros": usd_to_micros(amount),
        "priced": priced,
        # Who reports it: nobody through the API until costs.sealing.note_writer says otherwise.
        "actor": "",
        "address": "",
        "audit_pending": False,
    }


def _note(errors: dict, field: str, problem: str | None) -> None:
    if problem:
        errors[field] = problem


def _collect(errors: dict, check: Callable[..., Any], *args: Any) -> Any:
    """`check(*args)`, or None with its ValidationError's fields added to `errors`."""
    try:
        return check(*args)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        return None


def _model_problem(model: str, kind: str) -> str | None:
    if kind == SpendEntry.AI and not model:
        return "an AI spend needs the model"
    return _nul_problem(model)


def _nul_problem(text: str) -> str | None:
    # No database text column takes a NUL; refused here, not by a failed write.
    return "must not contain a NUL character" if "\x00" in text else None


def _tokens_problem(count: int) -> str | None:
    return f"must be at most {MAX_TOKENS:,}" if count > MAX_TOKENS else None


def _ts_problem(ts: datetime, now: datetime) -> str | None:
    if ts > now + FUTURE_SLACK:
        return "must not be in the future"
    if ts < EARLIEST_TS:
        return "must not be before 2000-01-01 (seconds sent as a date?)"
    return None


def _amount(
    kind: str, model: str, usd: Decimal | None, input_tokens: int, output_tokens: int, now: datetime
) -> Decimal:
    """The report's amount: as given, or priced from the price table when absent."""
    if usd is None:
        if kind == SpendEntry.STRIPE_FEE:
            raise ValidationError({"usd": "a Stripe fee needs usd"})
        config, _ = spend_cache.current(now)
        usd = require_usd(price_usd(config.prices, model, input_tokens, output_tokens), "usd")
    if usd > MAX_REPORT_USD:
        raise ValidationError({"usd": f"must be at most {MAX_REPORT_USD:,} for one report"})
    return usd


def _cost_day(ts: datetime) -> date:
    try:
        return spend_cache.cost_day(ts)
    except OverflowError:  # e.g. 0001-01-01T00:00+14:00, before the first day a date holds in UTC
        raise ValidationError({"ts": "is out of range"}) from None


# --- an override request -------------------------------------------------------------------------


def _scope(value: Any, field: str) -> str:
    if value not in (CostCap.DAILY, CostCap.MODEL):
        raise ValidationError({field: "must be 'daily' or 'model'"})
    return value


def _cap_key(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > CostCap.KEY_LENGTH or "\x00" in value:
        raise ValidationError({field: f"must be a model name of at most {CostCap.KEY_LENGTH} characters"})
    return value.strip()


def _minutes(value: Any, field: str) -> int:
    if value is None:
        return OVERRIDE_MINUTES_DEFAULT
    problem = ValidationError({field: f"must be a whole number of minutes from 1 to {OVERRIDE_MINUTES_MAX}"})
    try:
        minutes = require_non_negative_int(value, field)
    except (ValidationError, OverflowError):  # OverflowError: a number past a float's range
        raise problem from None
    if not 1 <= minutes <= OVERRIDE_MINUTES_MAX:
        raise problem
    return minutes


def _reason(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > REASON_MAX_LENGTH or not value.isprintable():
        raise ValidationError({field: f"must be one line of at most {REASON_MAX_LENGTH} characters"})
    return value.strip()


OVERRIDE_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "scope": _scope,
    "key": _cap_key,
    "minutes": _minutes,
    "reason": _reason,
}


def override_request(data: Any) -> dict:
    """scope, key, minutes and reason of a request to override a cap (a JSON object: scope, key,
    minutes, reason), in two steps like a usage report: each field's form, then the request as a
    whole (the key its scope needs or refuses, and a cap there to override); a ValidationError names
    every bad field of a step at once."""
    fields = _fields(data, OVERRIDE_FIELDS)
    scope, key = fields["scope"], fields["key"]
    if scope == CostCap.MODEL and not key:
        raise ValidationError({"key": "a model override needs the model name in key"})
    if scope == CostCap.DAILY and key:
        # Most likely meant for one model: overriding the global cap instead lets all AI spend through.
        raise ValidationError(
            {"key": "the daily cap covers all AI spend and takes no key; use scope 'model' for a model's cap"}
        )
    spend_cache.current_version()  # seeds the env caps on first use, as a decision would
    # Read, not taken from the cached copy: a cap set through another worker a moment ago is there.
    if not CostCap.objects.filter(scope=scope, key=key).exists():
        # A misspelt model name would override nothing, and say it did.
        missing = "no global daily cap is set" if scope == CostCap.DAILY else f"no daily cap is set for model {key!r}"
        raise ValidationError({"key" if key else "scope": f"{missing}: there is nothing to override"})
    return fields
