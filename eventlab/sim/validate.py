"""Checking what a learner sends to the simulation labs, in plain words: whole numbers, text, money, and the order
the saga and 2PC labs both run. Pure Python."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from .runlog import Invalid

MAX_ITEMS = 20
MAX_QTY = 1_000
MAX_PRICE = Decimal("1000000.00")


def whole(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Invalid(f"{name} must be a whole number from {low:,} to {high:,}.")
    return value


def text(value: Any, name: str, longest: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"{name} must be some text.")
    if len(value) > longest:
        raise Invalid(f"{name} must be at most {longest} characters.")
    return value.strip()


def fault_specs(data: Any, fields: dict[str, set[str]], most: int, unknown_word: str = "field"
                ) -> list[tuple[str, dict[str, Any]]]:
    """The faults a lab was sent, checked for their shape: a list of at most `most` objects, each with a `kind` of
    `fields` and only that kind's fields. Returns (kind, spec) pairs for the lab to read each kind's values."""
    if not isinstance(data, list):
        raise Invalid("Faults must be a list.")
    if len(data) > most:
        raise Invalid(f"At most {most} faults at once.")
    specs = []
    for spec in data:
        if not isinstance(spec, dict) or not isinstance(spec.get("kind"), str):
            raise Invalid('A fault is an object with a "kind".')
        kind = spec["kind"]
        if kind not in fields:
            raise Invalid(f"Unknown fault kind {kind[:40]!r}. The kinds are: {', '.join(fields)}.")
        unknown = set(spec) - fields[kind] - {"kind"}
        if unknown:
            raise Invalid(f"A {kind} fault has no {unknown_word} {sorted(unknown)[0][:40]!r}.")
        specs.append((kind, spec))
    return specs


def parse_order(data: Any, order_id: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Invalid("An order is an object with a customer and items.")
    customer = text(data.get("customer"), "The customer's name", 100)
    items = data.get("items")
    if not isinstance(items, list):
        raise Invalid("An order's items must be a list.")
    if not items:
        raise Invalid("No items in order.")
    if len(items) > MAX_ITEMS:
        raise Invalid(f"An order has at most {MAX_ITEMS} items.")
    parsed, total = [], Decimal("0")
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise Invalid(f"Item {number} must be an object with sku, qty and price.")
        sku = text(item.get("sku"), f"Item {number}'s sku", 50)
        qty = whole(item.get("qty"), f"Item {number}'s quantity", 1, MAX_QTY)
        price = money(item.get("price"), f"Item {number}'s price")
        total += price * qty
        parsed.append({"sku": sku, "qty": qty, "price": str(price)})
    if total > MAX_PRICE:
        raise Invalid(f"An order's total must be at most {MAX_PRICE:,}.")
    return {"order_id": order_id, "customer": customer, "items": parsed, "amount": str(total)}


def money(value: Any, name: str) -> Decimal:
    try:
        amount = Decimal(str(value)) if isinstance(value, str | int) and not isinstance(value, bool) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise Invalid(f"{name} must be an amount like \"12.50\".")
    if amount <= 0 or amount > MAX_PRICE or int(amount.as_tuple().exponent) < -2:
        raise Invalid(f"{name} must be more than 0, at most {MAX_PRICE:,}, with at most 2 decimal places.")
    return amount.quantize(Decimal("0.01"))
