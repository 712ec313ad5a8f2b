"""The real-time card features, one transaction at a time, against a direct computation over
the whole sequence: windows (t - W, t] with the transaction itself, the first transaction's
documented defaults, and a history trimmed without changing any result."""

from __future__ import annotations

import random

import pytest

from flink_jobs.stages.features.card_windows import FEATURE_NAMES, WINDOWS_S, CardHistory


def direct(events: list[tuple[int, float, int]], i: int) -> dict[str, float]:
    """Features of events[i] from the list itself (sorted by time)."""
    t, amount, _ = events[i]
    seen = events[: i + 1]
    features: dict[str, float] = {}
    for name, seconds in WINDOWS_S.items():
        window = [a for time_ms, a, _ in seen if time_ms > t - seconds * 1000]
        features[f"txn_count_{name}"] = len(window)
        features[f"amount_sum_{name}"] = round(sum(window), 2)
    features["distinct_merchants_10m"] = len({m for time_ms, _, m in seen if time_ms > t - 600_000})
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


def test_a_window_excludes_its_start_and_includes_the_transaction_itself():
    history = CardHistory()
    history.add(0, 10.0, 1)
    at_edge = history.add(60_000, 5.0, 2)  # exactly one minute later: the first is outside (t - 1 min, t]
    assert at_edge["txn_count_1m"] == 1
    assert at_edge["amount_sum_1m"] == 5.0
    assert at_edge["txn_count_10m"] == 2
    just_inside = history.add(119_999, 1.0, 2)
    assert just_inside["txn_count_1m"] == 2  # 60,000 is inside (59,999, 119,999]
    assert just_inside["distinct_merchants_10m"] == 2


def test_the_first_transaction_has_the_documented_defaults():
    first = CardHistory().add(5_000, 42.0, 3)
    assert first["seconds_since_prev_txn"] == -1.0
    assert first["amount_to_mean_ratio"] == 1.0
    assert first["txn_count_1h"] == 1


def test_the_history_keeps_only_the_longest_window():
    history = CardHistory()
    for minute in range(0, 180):
        history.add(minute * 60_000, 1.0, minute)
    assert all(t > 179 * 60_000 - 3600 * 1000 for t, _, _ in history.recent)
    assert history.amount_count == 180  # the running mean still counts every transaction
