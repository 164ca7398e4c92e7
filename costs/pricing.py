"""Turning token counts into dollars with the admin-editable price table."""

from decimal import Decimal

from django.core.exceptions import ValidationError

MILLION = Decimal(1_000_000)


def price_usd(prices: dict[str, tuple[Decimal, Decimal]], model: str, input_tokens: int, output_tokens: int) -> Decimal:
    """The cost of one call of `model` from the price table (`{model: (input, output)}`, USD per 1M
    tokens); a ValidationError naming `model` when the table has no price for it."""
    price = prices.get(model)
    if price is None:
        raise ValidationError({"model": f"no price for model {model!r}; send usd or add a price in the admin"})
    input_price, output_price = price
    return (Decimal(input_tokens) * input_price + Decimal(output_tokens) * output_price) / MILLION
