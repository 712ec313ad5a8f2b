"""Generated inputs against the parser and the dead letters: whatever comes in, the parser
returns an event inside the schema or raises InvalidEvent (nothing else), and the dead letter
for it is valid JSON that fits its topic and describes the original payload exactly."""

from __future__ import annotations

import hashlib
import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flink_jobs.events import (
    CHANNELS,
    COUNTRY_CODE,
    CURRENCY_CODE,
    MAX_AMOUNT,
    MAX_EVENT_BYTES,
    MAX_EVENT_ID_CHARS,
    MAX_FRAUD_PATTERN_CHARS,
    MAX_ID,
    MERCHANT_CATEGORIES,
    InvalidEvent,
    Transaction,
    parse,
    to_json,
)
from flink_jobs.stages.output.dead_letters import MAX_PAYLOAD_BYTES, MAX_REASON_CHARS, dead_letter
from tests.unit.test_events import VALID

# Text as a str from outside may hold it: any character, lone surrogates included.
any_text = st.text(st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=2000)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Every JSON value: scalars at their edges (huge and negative integers, non-finite floats,
# surrogates and control characters in text), nested arrays and objects.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, MAX_ID, MAX_ID + 1, 2**64 - 1, 2**64]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=50),
    st.sampled_from(["", "grocery", "pos", "ecom", "DE", "EUR", "2026-11-26T13:40:00Z", "\ud800", "\x00"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)),
    max_leaves=30,
)


def assert_in_schema(event: Transaction) -> None:
    assert 0 < len(event.event_id) <= MAX_EVENT_ID_CHARS
    for key in (event.card_id, event.customer_id, event.merchant_id):
        assert isinstance(key, int) and 0 <= key <= MAX_ID
    assert isinstance(event.amount, float) and math.isfinite(event.amount) and 0 < event.amount <= MAX_AMOUNT
    assert event.merchant_category in MERCHANT_CATEGORIES
    assert event.channel in CHANNELS
    assert COUNTRY_CODE.fullmatch(event.merchant_country) and COUNTRY_CODE.fullmatch(event.card_country)
    assert CURRENCY_CODE.fullmatch(event.currency)
    assert event.is_fraud in (None, True, False)
    assert event.fraud_pattern is None or len(event.fraud_pattern) <= MAX_FRAUD_PATTERN_CHARS
    assert isinstance(event.event_time_ms, int)
    assert parse(to_json(event)) == event  # what a later stage dead-letters parses back to the same event


def outcome(raw: bytes | str) -> Transaction | None:
    """The event when raw is one, None when it was rejected; any other exception fails the test."""
    try:
        event = parse(raw)
    except InvalidEvent as err:
        payload = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        assert_dead_letter_describes(payload, str(err))
        return None
    assert_in_schema(event)
    return event


def assert_dead_letter_describes(payload: str, reason: str) -> None:
    record = json.loads(dead_letter(payload, reason, source_topic="t", job="j"))
    original = payload.encode("utf-8", "surrogatepass")
    assert record["payload_bytes"] == len(original)
    assert record["payload_sha256"] == hashlib.sha256(original).hexdigest()
    assert record["payload_truncated"] == (len(original) > MAX_PAYLOAD_BYTES)
    assert len(record["payload"].encode()) <= 3 * MAX_PAYLOAD_BYTES  # each cut byte is at most one U+FFFD
    assert record["reason"] == reason[:MAX_REASON_CHARS]


@FUZZ
@given(st.binary(max_size=MAX_EVENT_BYTES + 64))
def test_any_bytes(raw):
    outcome(raw)


@FUZZ
@given(json_values)
def test_any_json_value(value):
    outcome(json.dumps(value))


@FUZZ
@given(st.sampled_from(sorted(VALID)), json_values)
def test_a_valid_event_with_one_field_replaced_by_any_value(name, value):
    outcome(json.dumps(VALID | {name: value}))


@FUZZ
@given(st.sampled_from(sorted(VALID)))
def test_a_valid_event_without_one_field(name):
    event = outcome(json.dumps({k: v for k, v in VALID.items() if k != name}))
    assert (event is not None) == (name in ("is_fraud", "fraud_pattern"))


@FUZZ
@given(any_text)
def test_any_text_surrogates_included(text):
    outcome(text)


@FUZZ
@given(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1"]), st.text(max_size=20))
def test_other_encodings_are_rejected_or_read_as_utf8(encoding, event_id):
    """The schema says UTF-8: bytes in another encoding are rejected, unless they also are UTF-8
    (ASCII text in latin-1), and then they are read as UTF-8."""
    text = json.dumps(VALID | {"event_id": event_id or "e"}, ensure_ascii=False)
    try:
        raw = text.encode(encoding)
    except UnicodeEncodeError:
        return
    event = outcome(raw)
    if event is not None:
        assert event == outcome(raw.decode("utf-8"))


@FUZZ
@given(st.integers(min_value=1, max_value=5000), st.sampled_from(["[", '{"a":']))
def test_any_nesting_depth(depth, opener):
    outcome(opener * depth)


@FUZZ
@given(st.integers(min_value=0, max_value=4 * MAX_EVENT_BYTES))
def test_any_size_around_the_limit(size):
    padded = json.dumps(VALID | {"padding": "x" * size})
    event = outcome(padded)
    assert (event is not None) == (len(padded.encode()) <= MAX_EVENT_BYTES)


@FUZZ
@given(any_text.filter(bool), st.integers(min_value=1, max_value=500), st.text(max_size=40))
def test_a_dead_letter_fits_its_topic_whatever_it_carries(piece, repeat, reason_piece):
    # Repeated pieces: payloads and reasons from a few bytes to several times their limits.
    assert_dead_letter_describes(piece * repeat, reason_piece * repeat)
