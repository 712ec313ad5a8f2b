"""Generated input for the live fuzz test: good transactions and, from other transactions, every
kind of broken message a topic can carry (bytes, broken JSON, wrong shapes, types and ranges,
sizes, encodings, event times outside the window). Seeded, so a failure replays."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np

from flink_jobs.events import CHANNELS, MAX_EVENT_BYTES, MERCHANT_CATEGORIES

# Far above 2^63-1 ids, non-finite-in-float32 amounts, empty and long strings, deep nesting...
EDGE_VALUES: list[object] = [
    None,
    True,
    False,
    0,
    -1,
    2**63,
    2**64 - 1,
    -(2**63) - 1,
    1e39,
    -0.0,
    1.5,
    "",
    "x" * 300,
    "\u0000",
    "ÄÖ€",
    "2026-02-30T00:00:00Z",
    [],
    {},
    [[[[[[]]]]]],
    {"nested": {"deeper": [1, 2, {"x": None}]}},
]


def good_event(rng: np.random.Generator, index: int, at: datetime, card_offset: int) -> dict:
    return {
        "event_id": f"fuzz-{index}",
        "event_time": at.isoformat(timespec="milliseconds"),
        "card_id": card_offset + int(rng.integers(0, 200)),
        "customer_id": int(rng.integers(0, 10**6)),
        "merchant_id": int(rng.integers(0, 5000)),
        "merchant_category": str(rng.choice(MERCHANT_CATEGORIES)),
        "merchant_country": str(rng.choice(["DE", "FR", "BR", "US"])),
        "card_country": "DE",
        "amount": float(round(rng.uniform(0.5, 3000), 2)),
        "currency": "EUR",
        "channel": str(rng.choice(CHANNELS)),
    }


def _dumps(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _random_bytes(rng, e):
    return rng.bytes(int(rng.integers(0, 300)))


def _truncated(rng, e):
    raw = _dumps(e)
    return raw[: int(rng.integers(0, len(raw)))]


def _invalid_utf8_inside(rng, e):
    raw = _dumps(e)
    cut = int(rng.integers(1, len(raw)))
    return raw[:cut] + bytes([0xFF, 0xC3]) + raw[cut:]


def _field_dropped(rng, e):
    return _dumps({k: v for k, v in e.items() if k != rng.choice(sorted(e))})


def _field_replaced(rng, e):
    return _dumps(e | {str(rng.choice(sorted(e))): EDGE_VALUES[int(rng.integers(0, len(EDGE_VALUES)))]})


def _not_an_object(rng, e):
    return _dumps([None, 42, "text", [e], 1e308][int(rng.integers(0, 5))])


def _deeply_nested(rng, e):
    return b"[" * int(rng.integers(500, 5000))


def _oversize(rng, e):
    return _dumps(e | {"padding": "p" * int(rng.integers(MAX_EVENT_BYTES, 4 * MAX_EVENT_BYTES))})


def _other_encoding(rng, e):
    return json.dumps(e).encode(str(rng.choice(["utf-16", "utf-32"])))


def _event_time_outside(rng, e):
    now = datetime.now(UTC)
    far = [now + timedelta(days=1), now + timedelta(hours=2), now - timedelta(days=30), now - timedelta(days=4000)]
    texts = [t.isoformat() for t in far] + ["2026-11-30 25:00", "2026-11-30T12:00:00", "0001-01-01T00:00:00+00:00"]
    return _dumps(e | {"event_time": texts[int(rng.integers(0, len(texts)))]})


def _out_of_range(rng, e):
    field, value = [
        ("card_id", 2**63),
        ("merchant_id", -5),
        ("amount", 0),
        ("amount", 2e9),
        ("amount", -12.5),
        ("channel", "atm"),
        ("merchant_category", "casino"),
        ("currency", "euro"),
        ("card_country", "deu"),
        ("event_id", ""),
    ][int(rng.integers(0, 10))]
    return _dumps(e | {field: value})


MUTATIONS: list[Callable[[np.random.Generator, dict], bytes]] = [
    _random_bytes,
    _truncated,
    _invalid_utf8_inside,
    _field_dropped,
    _field_replaced,
    _not_an_object,
    _deeply_nested,
    _oversize,
    _other_encoding,
    _event_time_outside,
    _out_of_range,
]


def mutated(rng: np.random.Generator, event: dict) -> bytes:
    return MUTATIONS[int(rng.integers(0, len(MUTATIONS)))](rng, event)
