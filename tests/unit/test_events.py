"""Parsing transaction events: valid ones come back typed, every bad one with a reason."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from flink_jobs.events import MAX_EVENT_BYTES, InvalidEvent, check_event_time, iso_ms, parse, to_json

VALID = {
    "event_id": "e-1",
    "event_time": "2026-11-26T13:40:00.123Z",
    "card_id": 104233,
    "customer_id": 52110,
    "merchant_id": 8812,
    "merchant_category": "grocery",
    "merchant_country": "DE",
    "card_country": "DE",
    "amount": 42.17,
    "currency": "EUR",
    "channel": "pos",
    "is_fraud": False,
    "fraud_pattern": None,
}


def test_valid_event_parses_with_event_time_in_ms():
    event = parse(json.dumps(VALID).encode())
    assert event.card_id == 104233
    assert event.amount == 42.17
    assert event.event_time_ms == 1_795_700_400_123


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "malformed event: expected a JSON object, got list"),
        (json.dumps({k: v for k, v in VALID.items() if k != "card_id"}), "missing field: card_id"),
        (json.dumps(VALID | {"card_id": "104233"}), "wrong type for card_id: expected integer, got str"),
        (json.dumps(VALID | {"card_id": True}), "wrong type for card_id: expected integer, got boolean"),
        (json.dumps(VALID | {"amount": -3}), "invalid amount: must be > 0 and <= 1e+09, got -3"),
        (json.dumps(VALID | {"amount": 0}), "invalid amount: must be > 0 and <= 1e+09, got 0"),
        # float32 (the model's input) would turn it into infinity.
        (json.dumps(VALID | {"amount": 1e39}), "invalid amount: must be > 0 and <= 1e+09, got 1e+39"),
        (json.dumps(VALID | {"amount": 2**64 - 1}), "invalid amount: must be > 0 and <= 1e+09"),
        (json.dumps(VALID | {"event_id": ""}), "invalid event_id: must be 1..128 characters, got 0"),
        (json.dumps(VALID | {"event_id": "e" * 129}), "invalid event_id: must be 1..128 characters, got 129"),
        (json.dumps(VALID | {"merchant_category": "casino"}), "invalid merchant_category: 'casino' (expected one of"),
        (json.dumps(VALID | {"merchant_country": "de"}), "invalid merchant_country: expected an ISO 3166 alpha-2"),
        (json.dumps(VALID | {"card_country": "DEU"}), "invalid card_country: expected an ISO 3166 alpha-2"),
        (json.dumps(VALID | {"currency": "€"}), "invalid currency: expected an ISO 4217 code"),
        (json.dumps(VALID | {"fraud_pattern": {"a": 1}}), "wrong type for fraud_pattern: expected string or null"),
        (json.dumps(VALID | {"fraud_pattern": "p" * 65}), "invalid fraud_pattern: at most 64 characters, got 65"),
        (json.dumps(VALID | {"event_time": "yesterday"}), "invalid event_time: not ISO-8601"),
        (json.dumps(VALID | {"event_time": "2026-11-26T13:40:00"}), "invalid event_time: no UTC offset"),
        (json.dumps(VALID | {"channel": "atm"}), "invalid channel: 'atm'"),
        (json.dumps(VALID | {"padding": "x" * MAX_EVENT_BYTES}), "oversize payload"),
        (b"\xff\xfe", "malformed JSON"),
        # Past Flink's LONG: a key that could not be keyed must not reach the job's key_by.
        (json.dumps(VALID | {"card_id": 2**63}), "invalid card_id: must be in 0..2^63-1"),
        (json.dumps(VALID | {"merchant_id": 10**30}), "wrong type for merchant_id: expected integer, got float"),
        (json.dumps(VALID | {"amount": float("nan")}), "malformed JSON"),
    ],
)
def test_bad_events_are_rejected_with_a_reason(raw, reason):
    with pytest.raises(InvalidEvent) as err:
        parse(raw)
    assert str(err.value).startswith(reason)


def test_a_long_rejected_value_is_cut_short_in_the_reason():
    with pytest.raises(InvalidEvent) as err:
        parse(json.dumps(VALID | {"channel": "x" * 10_000}))
    assert len(str(err.value)) < 200
    assert "10002 characters" in str(err.value)


def test_the_event_time_window_is_inclusive_at_both_bounds():
    event = parse(json.dumps(VALID))
    now = event.event_time_ms
    check_event_time(event, now - 1000, max_ahead_ms=1000, max_behind_ms=0)
    check_event_time(event, now + 1000, max_ahead_ms=0, max_behind_ms=1000)
    with pytest.raises(InvalidEvent, match="1001 ms ahead of the job's clock"):
        check_event_time(event, now - 1001, max_ahead_ms=1000, max_behind_ms=0)
    with pytest.raises(InvalidEvent, match="1001 ms behind the job's clock"):
        check_event_time(event, now + 1001, max_ahead_ms=0, max_behind_ms=1000)


def test_an_event_written_back_as_json_parses_to_itself():
    event = parse(json.dumps(VALID | {"fraud_pattern": "card_testing", "is_fraud": True}))
    assert parse(to_json(event)) == event


def test_iso_ms_writes_every_millisecond_as_exact_utc():
    """Against integer date arithmetic (no float): both sides of 1970, the second's edges, year 9999."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    picks = random.Random(7)
    times = [0, 1, 999, 1000, -1, -999, -1000, -1001, 1764164400123, 253402300799999]
    times += [picks.randrange(-(10**12), 253402300799999) for _ in range(20_000)]
    for ms in times:
        assert iso_ms(ms) == (epoch + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds"), ms
