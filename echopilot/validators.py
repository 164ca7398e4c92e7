"""Unit-safe input fields: integers, milliseconds and US dollars, never negative, never NaN.

Use them in serializers (`UsdField()`), or call `require_*` on a plain value (they raise Django's
ValidationError, as the services do); either way a bad value becomes a 400 that names the field.
"""

import math
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from rest_framework import serializers

USD_DIGITS = 18
USD_PLACES = 6
# What UsdField's digits hold at 6 places. A larger amount is no spend anyone reports, and quantizing
# one to the micro-dollar overflows Decimal's 28 digits of precision.
USD_LIMIT = Decimal(10) ** (USD_DIGITS - USD_PLACES)


def _is_lookalike(value) -> bool:
    """JSON true/false are ints to Python, and Python reads "1_000" and other scripts' digits ("١٢")
    as numbers: as a count or an amount, no client means any of them."""
    return isinstance(value, bool) or (isinstance(value, str) and (not value.isascii() or "_" in value))


def _reject_lookalike(value, field_name) -> None:
    if _is_lookalike(value):
        raise ValidationError({field_name: "must be a number written with the digits 0-9"})


class NonNegativeIntField(serializers.IntegerField):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("min_value", 0)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> int:
        if _is_lookalike(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class MillisecondsField(serializers.FloatField):
    """A duration in ms: finite, >= 0."""

    default_error_messages = {"not_finite": "must be a finite number of milliseconds"}

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("min_value", 0)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> float:
        if _is_lookalike(data):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("not_finite")
        return value


class UsdField(serializers.DecimalField):
    """An amount in US dollars, kept as Decimal to the micro-dollar, >= 0."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_digits", USD_DIGITS)
        kwargs.setdefault("decimal_places", USD_PLACES)
        kwargs.setdefault("min_value", Decimal(0))
        kwargs.setdefault("coerce_to_string", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> Decimal:
        if _is_lookalike(data):
            self.fail("invalid")
        if isinstance(data, float):
            # Through str so 0.1 stays 0.1 and does not become 0.1000000000000000055...
            data = repr(data)
        return super().to_internal_value(data)


def storable_name(text: str, max_length: int) -> bool:
    """`text` can name something in a column of `max_length` characters: not blank, not longer, and
    printable: no NUL (which PostgreSQL refuses in any text column, failing the write), no newline or
    other control character (which breaks the one-line listings it shows up in)."""
    return bool(text.strip()) and len(text) <= max_length and text.isprintable()


def require_non_negative_int(value, field_name: str) -> int:
    """`value` as an int >= 0, or a ValidationError naming `field_name`."""
    _reject_lookalike(value, field_name)
    try:
        number = int(value)
        if isinstance(value, float) and number != value:
            raise ValueError
    except (TypeError, ValueError):
        raise ValidationError({field_name: "must be a whole number"}) from None
    if number < 0:
        raise ValidationError({field_name: "must not be negative"})
    return number


def require_ms(value, field_name: str) -> float:
    """`value` as finite milliseconds >= 0, or a ValidationError naming `field_name`."""
    _reject_lookalike(value, field_name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError({field_name: "must be a number of milliseconds"}) from None
    if not math.isfinite(number):
        raise ValidationError({field_name: "must be a finite number of milliseconds"})
    if number < 0:
        raise ValidationError({field_name: "must not be negative"})
    return number


def require_usd(value, field_name: str) -> Decimal:
    """`value` as a Decimal number of dollars >= 0, or a ValidationError naming `field_name`."""
    _reject_lookalike(value, field_name)
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value))
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError({field_name: "must be an amount in USD"}) from None
    if not amount.is_finite():
        raise ValidationError({field_name: "must be a finite amount in USD"})
    if amount < 0:
        raise ValidationError({field_name: "must not be negative"})
    if amount >= USD_LIMIT:
        raise ValidationError({field_name: f"must be less than {USD_LIMIT:,}"})
    return amount.quantize(Decimal(1).scaleb(-USD_PLACES))
