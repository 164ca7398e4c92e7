"""Unit-safe validators: a bad number is a 400 naming the field, never a 500."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from rest_framework import serializers

from echopilot.validators import (
    MillisecondsField,
    NonNegativeIntField,
    UsdField,
    require_ms,
    require_non_negative_int,
    require_usd,
)


class Sample(serializers.Serializer):
    count = NonNegativeIntField()
    latency_ms = MillisecondsField()
    usd = UsdField()


def errors_of(data):
    serializer = Sample(data=data)
    assert not serializer.is_valid()
    return serializer.errors


def test_good_values_pass_and_usd_stays_exact():
    serializer = Sample(data={"count": 3, "latency_ms": 12.5, "usd": 0.1})
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {"count": 3, "latency_ms": 12.5, "usd": Decimal("0.1")}


@pytest.mark.parametrize(
    "field,value",
    [
        ("count", -1),
        ("count", "ten"),
        ("count", True),
        ("count", 1.5),
        ("latency_ms", -0.1),
        ("latency_ms", "fast"),
        ("latency_ms", "nan"),
        ("latency_ms", False),
        ("usd", -0.01),
        ("usd", "free"),
        ("usd", "NaN"),
        ("usd", True),
        # Numbers to Python, not to any client: digit separators and other scripts' digits.
        ("count", "1_000"),
        ("count", "\u0661\u0662"),
        ("latency_ms", "1_0"),
        ("usd", "\u0661"),
        ("usd", "1_000"),
    ],
)
def test_bad_value_is_refused_naming_the_field(field, value):
    data = {"count": 1, "latency_ms": 1.0, "usd": 1, field: value}
    assert set(errors_of(data)) == {field}


@pytest.mark.parametrize(
    "func,value",
    [
        (require_non_negative_int, -5),
        (require_non_negative_int, "x"),
        (require_non_negative_int, 2.5),
        (require_ms, -1),
        (require_ms, "inf"),
        (require_ms, None),
        (require_usd, "-3"),
        (require_usd, "abc"),
        (require_usd, float("nan")),
        (require_usd, True),
        (require_usd, "1e400"),
        (require_usd, 1e308),
        (require_usd, "1000000000000"),
        (require_non_negative_int, "1_000"),
        (require_non_negative_int, "\u0661\u0662"),
        (require_ms, "\uff11"),
        (require_usd, "1_000.5"),
        (require_usd, "\u0665"),
    ],
)
def test_plain_validators_name_the_field(func, value):
    with pytest.raises(ValidationError) as caught:
        func(value, "the_field")
    assert "the_field" in caught.value.message_dict


def test_plain_validators_return_clean_values():
    assert require_non_negative_int("7", "n") == 7
    assert require_non_negative_int(" 7 ", "n") == 7
    assert require_ms("250.5", "ms") == 250.5
    assert require_usd(0.1, "usd") == Decimal("0.100000")
    assert require_usd("999999999999.999999", "usd") == Decimal("999999999999.999999")  # the most UsdField holds
    assert require_usd("1e-400", "usd") == 0
