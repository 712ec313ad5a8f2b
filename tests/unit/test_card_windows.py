"""The real-time card features, one transaction at a time, against a direct computation over
the whole sequence: bucketed windows with the transaction itself, distinct merchants in
(t - 10 min, t], the first transaction's documented defaults; and state and work that stay
bounded whatever the card's history."""

from __future__ import annotations

import random

import pytest

from flink_jobs.stages.features.card_windows import (
    BUCKET_MS,
    BUCKETS_PER_WINDOW,
    FEATURE_NAMES,
    MAX_MERCHANTS,
    CardHistory,
)
from flink_jobs.state_layout import encode_history


def direct(events: list[tuple[int, float, int]], i: int) -> dict[str, float]:
    """Features of events[i] from the list itself (sorted by time), by the documented definition."""
    t, amount, _ = events[i]
    seen = events[: i + 1]
    features: dict[str, float] = {}
    for name, width in BUCKET_MS.items():
        first = t // width - BUCKETS_PER_WINDOW
        window = [a for time_ms, a, _ in seen if time_ms // width > first]
        features[f"txn_count_{name}"] = len(window)
        features[f"amount_sum_{name}"] = round(sum(window), 2)
    features["distinct_merchants_10m"] = min(MAX_MERCHANTS, len({m for time_ms, _, m in seen if time_ms > t - 600_000}))
    features["seconds_since_prev_txn"] = -1.0 if i == 0 else (t - events[i - 1][0]) / 1000
    previous = [a for _, a, _ in events[:i]]
    features["amount_to_mean_ratio"] = 1.0 if not previous else round(amount / (sum(previous) / len(previous)), 6)
    return features


def test_every_feature_equals_the_direct_computation_over_a_random_sequence():
    rng = random.Random(7)
    times = sorted(rng.randrange(0, 3 * 3600 * 1000) for _ in range(400))
    events = [(t, round(rng.uniform(1, 500), 2), rng.randrange(20)) for t in times]
    history = CardHistory()
    for i, (t, amount, merchant) in enumerate(events):
        got = history.add(t, amount, merchant)
        assert set(got) == set(FEATURE_NAMES)
        assert got == pytest.approx(direct(events, i)), i


def test_a_window_is_its_bucket_and_the_59_before_it():
    history = CardHistory()
    history.add(0, 10.0, 1)  # bucket 0 of the 1-second buckets
    at_edge = history.add(60_000, 5.0, 2)  # bucket 60: buckets 1..60, the first is out
    assert at_edge["txn_count_1m"] == 1
    assert at_edge["amount_sum_1m"] == 5.0
    assert at_edge["txn_count_10m"] == 2
    same_bucket = history.add(60_999, 1.0, 2)
    assert same_bucket["txn_count_1m"] == 2
    assert same_bucket["distinct_merchants_10m"] == 2
    assert history.add(119_999, 1.0, 2)["txn_count_1m"] == 3  # bucket 119: 60..119


def test_the_first_transaction_has_the_documented_defaults():
    first = CardHistory().add(5_000, 42.0, 3)
    assert first["seconds_since_prev_txn"] == -1.0
    assert first["amount_to_mean_ratio"] == 1.0
    assert first["txn_count_1h"] == 1


def test_the_history_keeps_only_what_a_window_reaches_and_the_running_mean_counts_everything():
    history = CardHistory()
    for minute in range(0, 180):
        history.add(minute * 60_000, 1.0, minute)
    assert all(len(buckets) <= BUCKETS_PER_WINDOW for buckets in history.buckets.values())
    assert len(history.merchants) == 10  # the minutes 170..179 are within 10 minutes of 179
    assert history.amount_count == 180


def test_a_burst_on_one_card_keeps_its_state_bounded_at_every_step():
    """20,000 transactions of one card within a minute, across 1,000 merchants: each step's work
    is linear in the state it reads, and that state never grows past its bounds (a history of
    every transaction would cost n² / 2 over the burst)."""
    history = CardHistory()
    largest = 0
    for i in range(20_000):
        features = history.add(1_790_000_000_000 + i * 3, 1.0, i % 1000)
        if i % 500 == 0:
            largest = max(largest, len(encode_history(history)))
        assert sum(len(b) for b in history.buckets.values()) <= 3 * BUCKETS_PER_WINDOW + 3
        assert len(history.merchants) <= MAX_MERCHANTS
    assert features["txn_count_1m"] == 20_000
    assert features["distinct_merchants_10m"] == MAX_MERCHANTS
    assert largest < 12_000
