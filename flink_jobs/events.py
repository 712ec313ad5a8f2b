"""The transaction event: its JSON schema, and parsing with a reason for every rejection.

One event per Pulsar message, UTF-8 JSON, on the transactions topic:

    {
      "event_id": "c0a8012e-000000000042",     string, unique
      "event_time": "2026-11-26T13:40:00.123Z", ISO-8601 with a UTC offset: when the card was used
      "card_id": 104233,                      integer >= 0
      "customer_id": 52110,                   integer >= 0
      "merchant_id": 8812,                    integer >= 0
      "merchant_category": "grocery",         string (see MERCHANT_CATEGORIES)
      "merchant_country": "DE",               ISO 3166 alpha-2
      "card_country": "DE",                   ISO 3166 alpha-2, the card holder's home
      "amount": 42.17,                        number > 0, in `currency`
      "currency": "EUR",                      ISO 4217
      "channel": "pos",                       "pos" | "ecom"
      "is_fraud": false,                      boolean label, optional (the generator sets it)
      "fraud_pattern": null                   string or null, optional (which pattern, for evaluation)
    }

The publish time is Pulsar's own (message publish timestamp); the event time is in
the payload and also set as the message's event timestamp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

MAX_EVENT_BYTES = 16 * 1024
MAX_ID = 2**63 - 1  # ids are Flink LONG keys: a larger one could not be keyed
MERCHANT_CATEGORIES = (
    "grocery",
    "restaurant",
    "fuel",
    "travel",
    "electronics",
    "fashion",
    "entertainment",
    "health",
    "digital_goods",
    "cash_advance",
)
CHANNELS = ("pos", "ecom")


@dataclass(frozen=True)
class Transaction:
    event_id: str
    event_time_ms: int  # epoch milliseconds, UTC
    card_id: int
    customer_id: int
    merchant_id: int
    merchant_category: str
    merchant_country: str
    card_country: str
    amount: float
    currency: str
    channel: str
    is_fraud: bool | None = None
    fraud_pattern: str | None = None


class InvalidEvent(ValueError):
    """Why an event was rejected; the message is the dead-letter reason."""


def _require(payload: dict, name: str, kind: type | tuple[type, ...]) -> object:
    if name not in payload or payload[name] is None:
        raise InvalidEvent(f"missing field: {name}")
    value = payload[name]
    # bool is an int in Python; a JSON true is never a valid id or amount.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise InvalidEvent(f"wrong type for {name}: expected {_kind_name(kind)}, got boolean")
    if not isinstance(value, kind):
        raise InvalidEvent(f"wrong type for {name}: expected {_kind_name(kind)}, got {type(value).__name__}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({int: "integer", float: "number", str: "string", bool: "boolean"}[k] for k in kinds)


def _non_negative_int(payload: dict, name: str) -> int:
    value = _require(payload, name, int)
    if not 0 <= value <= MAX_ID:
        raise InvalidEvent(f"invalid {name}: must be in 0..2^63-1, got {value}")
    return value


def _event_time_ms(payload: dict) -> int:
    text = _require(payload, "event_time", str)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidEvent(f"invalid event_time: not ISO-8601: {text!r}") from None
    if moment.tzinfo is None:
        raise InvalidEvent(f"invalid event_time: no UTC offset: {text!r}")
    return round(moment.timestamp() * 1000)


def parse(raw: bytes | str) -> Transaction:
    """The transaction in `raw`, or InvalidEvent naming the first problem found."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_EVENT_BYTES:
        raise InvalidEvent(f"oversize payload: {size} bytes > {MAX_EVENT_BYTES}")
    try:
        payload = orjson.loads(raw)
    except (orjson.JSONDecodeError, UnicodeDecodeError) as err:
        raise InvalidEvent(f"malformed JSON: {err}") from None
    if not isinstance(payload, dict):
        raise InvalidEvent(f"malformed event: expected a JSON object, got {type(payload).__name__}")
    amount = _require(payload, "amount", (int, float))
    if not math.isfinite(amount) or amount <= 0:
        raise InvalidEvent(f"invalid amount: must be > 0, got {amount}")
    channel = _require(payload, "channel", str)
    if channel not in CHANNELS:
        raise InvalidEvent(f"invalid channel: {channel!r} (expected one of {', '.join(CHANNELS)})")
    is_fraud = payload.get("is_fraud")
    if is_fraud is not None and not isinstance(is_fraud, bool):
        raise InvalidEvent(f"wrong type for is_fraud: expected boolean, got {type(is_fraud).__name__}")
    event_id = _require(payload, "event_id", str)
    if not event_id:
        raise InvalidEvent("invalid event_id: empty")
    return Transaction(
        event_id=event_id,
        event_time_ms=_event_time_ms(payload),
        card_id=_non_negative_int(payload, "card_id"),
        customer_id=_non_negative_int(payload, "customer_id"),
        merchant_id=_non_negative_int(payload, "merchant_id"),
        merchant_category=_require(payload, "merchant_category", str),
        merchant_country=_require(payload, "merchant_country", str),
        card_country=_require(payload, "card_country", str),
        amount=float(amount),
        currency=_require(payload, "currency", str),
        channel=channel,
        is_fraud=is_fraud,
        fraud_pattern=payload.get("fraud_pattern"),
    )


def iso_ms(epoch_ms: float) -> str:
    """An epoch time in milliseconds as ISO-8601 UTC with milliseconds, the schema's time format."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds")
