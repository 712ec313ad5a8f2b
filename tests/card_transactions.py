"""A valid transaction of the documented event schema, stamped now: the load of the tests that
pace their own senders (hot keys, reactive scaling)."""

from __future__ import annotations

from datetime import UTC, datetime

MERCHANTS = 50


def transaction(card: int, number: int, prefix: str, at: datetime | None = None) -> dict:
    """Event id `<prefix>-<card>-<number>`, stamped `at` (default now); merchant and amount cycle
    with `number`."""
    return {
        "event_id": f"{prefix}-{card}-{number}",
        "event_time": (at or datetime.now(UTC)).isoformat(timespec="milliseconds"),
        "card_id": card,
        "customer_id": card,
        "merchant_id": 1 + number % MERCHANTS,
        "merchant_category": "electronics",
        "merchant_country": "DE",
        "card_country": "DE",
        "amount": float(1 + number % 97),
        "currency": "EUR",
        "channel": "ecom",
    }
