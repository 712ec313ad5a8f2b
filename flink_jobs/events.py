"""The transaction event: its JSON schema, and parsing with a reason for every rejection.

One event per Pulsar message, UTF-8 JSON, on the transactions topic:

    {
      "event_id": "c0a8012e-000000000042",     string, 1..128 characters, unique
      "event_time": "2026-11-26T13:40:00.123Z", ISO-8601 with a UTC offset: when the card was used
      "card_id": 104233,                      integer in 0..2^63-1
      "customer_id": 52110,                   integer in 0..2^63-1
      "merchant_id": 8812,                    integer in 0..2^63-1
      "merchant_category": "grocery",         one of MERCHANT_CATEGORIES
      "merchant_country": "DE",               ISO 3166 alpha-2 form: two letters A-Z
      "card_country": "DE",                   the same form, the card holder's home
      "amount": 42.17,                        number, 0 < amount <= MAX_AMOUNT, in `currency`
      "currency": "EUR",                      ISO 4217 form: three letters A-Z
      "channel": "pos",                       "pos" | "ecom"
      "is_fraud": false,                      boolean label, optional (the generator sets it)
      "fraud_pattern": null                   string of at most 64 characters or null, optional
    }

Codes are checked for their form, not against the ISO lists (a new country code must not stop
scoring); categories and channels are closed sets the model and the features were built on.
Other fields are ignored. The jobs also refuse an event time too far from their own clock
(`check_event_time`, the pipeline's [events] window).

The publish time is Pulsar's own (message publish timestamp); the event time is in
the payload and also set as the message's event timestamp.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from flink_jobs.config.pipeline_config import EventsSection

MAX_EVENT_BYTES = 16 * 1024
MAX_ID = 2**63 - 1  # ids are Flink LONG keys and Feast INT64 entity keys: a larger one fits neither
# Far above any card payment, far below float32's range: the model reads amounts as float32.
MAX_AMOUNT = 1e9
MAX_EVENT_ID_CHARS = 128
MAX_FRAUD_PATTERN_CHARS = 64
COUNTRY_CODE = re.compile(r"[A-Z]{2}")
CURRENCY_CODE = re.compile(r"[A-Z]{3}")
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
        raise InvalidEvent(f"invalid {name}: must be in 0..2^63-1, got {_shown(value)}")
    return value


def _shown(value: object, limit: int = 40) -> str:
    """A rejected value in a reason, cut short: a reason must stay small whatever the input."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _time_ms(payload: dict, name: str = "event_time") -> int:
    text = _require(payload, name, str)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidEvent(f"invalid {name}: not ISO-8601: {_shown(text)}") from None
    if moment.tzinfo is None:
        raise InvalidEvent(f"invalid {name}: no UTC offset: {_shown(text)}")
    return round(moment.timestamp() * 1000)


def _code(payload: dict, name: str, form: re.Pattern[str], what: str) -> str:
    value = _require(payload, name, str)
    if not form.fullmatch(value):
        raise InvalidEvent(f"invalid {name}: expected {what}, got {_shown(value)}")
    return value


def _one_of(payload: dict, name: str, allowed: tuple[str, ...]) -> str:
    value = _require(payload, name, str)
    if value not in allowed:
        raise InvalidEvent(f"invalid {name}: {_shown(value)} (expected one of {', '.join(allowed)})")
    return value


def _text(payload: dict, name: str, max_chars: int) -> str:
    value = _require(payload, name, str)
    if not 0 < len(value) <= max_chars:
        raise InvalidEvent(f"invalid {name}: must be 1..{max_chars} characters, got {len(value)}")
    return value


def _fraud_pattern(payload: dict) -> str | None:
    value = payload.get("fraud_pattern")
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"wrong type for fraud_pattern: expected string or null, got {type(value).__name__}")
    if len(value) > MAX_FRAUD_PATTERN_CHARS:
        raise InvalidEvent(f"invalid fraud_pattern: at most {MAX_FRAUD_PATTERN_CHARS} characters, got {len(value)}")
    return value


def _json_object(raw: bytes | str, what: str) -> dict:
    """The JSON object in `raw` (at most MAX_EVENT_BYTES), or InvalidEvent saying why not."""
    # surrogatepass: a str may carry lone surrogates; orjson then rejects it as malformed.
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if size > MAX_EVENT_BYTES:
        raise InvalidEvent(f"oversize payload: {size} bytes > {MAX_EVENT_BYTES}")
    try:
        payload = orjson.loads(raw)
    except (orjson.JSONDecodeError, UnicodeDecodeError) as err:
        raise InvalidEvent(f"malformed JSON: {err}") from None
    if not isinstance(payload, dict):
        raise InvalidEvent(f"malformed {what}: expected a JSON object, got {type(payload).__name__}")
    return payload


def parse(raw: bytes | str) -> Transaction:
    """The transaction in `raw`, or InvalidEvent naming the first problem found."""
    payload = _json_object(raw, "event")
    amount = _require(payload, "amount", (int, float))
    # An integer amount may be any size JSON allows: compare before converting it to a float.
    if not (math.isfinite(amount) and 0 < amount <= MAX_AMOUNT):
        raise InvalidEvent(f"invalid amount: must be > 0 and <= {MAX_AMOUNT:g}, got {_shown(amount)}")
    is_fraud = payload.get("is_fraud")
    if is_fraud is not None and not isinstance(is_fraud, bool):
        raise InvalidEvent(f"wrong type for is_fraud: expected boolean, got {type(is_fraud).__name__}")
    return Transaction(
        event_id=_text(payload, "event_id", MAX_EVENT_ID_CHARS),
        event_time_ms=_time_ms(payload),
        card_id=_non_negative_int(payload, "card_id"),
        customer_id=_non_negative_int(payload, "customer_id"),
        merchant_id=_non_negative_int(payload, "merchant_id"),
        merchant_category=_one_of(payload, "merchant_category", MERCHANT_CATEGORIES),
        merchant_country=_code(payload, "merchant_country", COUNTRY_CODE, "an ISO 3166 alpha-2 code (two letters A-Z)"),
        card_country=_code(payload, "card_country", COUNTRY_CODE, "an ISO 3166 alpha-2 code (two letters A-Z)"),
        amount=float(amount),
        currency=_code(payload, "currency", CURRENCY_CODE, "an ISO 4217 code (three letters A-Z)"),
        channel=_one_of(payload, "channel", CHANNELS),
        is_fraud=is_fraud,
        fraud_pattern=_fraud_pattern(payload),
    )


def check_event_time(event: Transaction, now_ms: int, max_ahead_ms: int, max_behind_ms: int) -> None:
    """InvalidEvent when the event time is more than max_ahead_ms after now_ms (it would move
    the feature job's watermark past every later event) or more than max_behind_ms before it."""
    offset_ms = event.event_time_ms - now_ms
    if offset_ms > max_ahead_ms:
        raise InvalidEvent(f"invalid event_time: {offset_ms} ms ahead of the job's clock (max_ahead_ms {max_ahead_ms})")
    if -offset_ms > max_behind_ms:
        raise InvalidEvent(
            f"invalid event_time: {-offset_ms} ms behind the job's clock (max_behind_ms {max_behind_ms})"
        )


def accepted(raw: bytes | str, window: EventsSection, now_ms: int) -> Transaction:
    """The transaction of a raw message whose event time is within `window` of `now_ms`;
    InvalidEvent, with the reason, for any other message."""
    event = parse(raw)
    check_event_time(event, now_ms, window.max_ahead_ms, window.max_behind_ms)
    return event


def to_json(event: Transaction) -> str:
    """The event in the documented schema (the dead letters of events rejected after parsing)."""
    fields = {k: v for k, v in vars(event).items() if k != "event_time_ms"}
    return orjson.dumps({**fields, "event_time": iso_ms(event.event_time_ms)}).decode()


def iso_ms(epoch_ms: int) -> str:
    """An epoch time in milliseconds as ISO-8601 UTC with milliseconds, the schema's time format."""
    seconds, ms = divmod(epoch_ms, 1000)
    return f"{_iso_second(seconds)}.{ms:03d}+00:00"


@functools.lru_cache(maxsize=4096)
def _iso_second(epoch_s: int) -> str:
    """A batch's events share a few seconds: each is formatted once (1.5 against 0.3 us an event)."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True)
class Label:
    """A transaction's confirmed outcome, known later (a chargeback, a reviewed case): the labels topic."""

    event_id: str
    is_fraud: bool
    event_time_ms: int  # the transaction's
    label_time_ms: int  # when the outcome became known


def parse_label(raw: bytes | str) -> Label:
    """The label in `raw`, or InvalidEvent naming the first problem found."""
    payload = _json_object(raw, "label")
    label = Label(
        event_id=_text(payload, "event_id", MAX_EVENT_ID_CHARS),
        is_fraud=_require(payload, "is_fraud", bool),
        event_time_ms=_time_ms(payload),
        label_time_ms=_time_ms(payload, "label_time"),
    )
    if label.label_time_ms < label.event_time_ms:
        raise InvalidEvent("invalid label_time: before the transaction's event_time")
    return label


def label_json(label: Label) -> str:
    return orjson.dumps(
        {
            "event_id": label.event_id,
            "is_fraud": label.is_fraud,
            "event_time": iso_ms(label.event_time_ms),
            "label_time": iso_ms(label.label_time_ms),
        }
    ).decode()
