"""The JVM's card windows (java/.../cards/CardHistory.java, HistoryText.java) against the Python
ones (card_windows.py, state_layout.py) that the backfill runs to make the training set: the same
features, bit for bit, for the same transactions, and each reads the other's state text. Driven
through the project's jar in a JVM (PyFlink's gateway), no Flink job."""

from __future__ import annotations

import json
import random

import pytest
from pyflink.java_gateway import get_gateway

from flink_jobs.java_operators import project_class
from flink_jobs.stages.features.card_windows import CardHistory
from flink_jobs.state_layout import decode_history, encode_history
from tests import project_jar

CARDS = "io.github.pyflinkrealtimeai.cards"


@pytest.fixture(scope="module")
def jvm():
    project_jar.load()
    return project_class(f"{CARDS}.CardHistory"), project_class(f"{CARDS}.HistoryText")


def transactions(rng: random.Random, count: int) -> list[tuple[int, float, int]]:
    """A card's transactions as a busy, odd card makes them: bursts in one second, gaps past every
    window, times going back by up to two minutes, more than 64 merchants in ten minutes, amounts
    from cents to the maximum and halves that round to even."""
    time_ms, out = 1_780_000_000_000, []
    for _ in range(count):
        small = rng.random() < 0.95
        step = rng.choice([0, 1, 7, 250, 999, 1_000] if small else [59_999, 60_000, 600_001, 3_600_000, -120_000])
        time_ms += step + rng.randrange(0, 50)
        amount = rng.choice(
            [round(rng.uniform(0.01, 900), 2), 0.125, 0.005, 2.675, 1e9, round(rng.uniform(0, 1), 3), 100.0]
        )
        merchant = rng.randrange(0, 200) if rng.random() < 0.7 else rng.randrange(2**62, 2**63 - 1)
        out.append((time_ms, amount, merchant))
    return out


def java_features(history, features_class, time_ms: int, amount: float, merchant: int) -> dict:
    features = features_class()
    history.add(time_ms, amount, merchant, features)
    return json.loads(features.toJson())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_jvm_computes_every_feature_as_python_does_and_reads_its_state(jvm, seed):
    java_history_class, history_text = jvm
    features_class = get_gateway().jvm.io.github.pyflinkrealtimeai.cards.CardHistory.Features
    rng = random.Random(seed)
    events = transactions(rng, 1_500)
    python, java = CardHistory(), java_history_class()
    most_merchants = 0
    for i, (time_ms, amount, merchant) in enumerate(events):
        expected = python.add(time_ms, amount, merchant)
        assert java_features(java, features_class, time_ms, amount, merchant) == expected, (i, events[i])
        most_merchants = max(most_merchants, expected["distinct_merchants_10m"])
        if i % 97 == 96:  # each side goes on from the other's state text
            java_text, python_text = history_text.encode(java), encode_history(python)
            assert decode_history(java_text) == python
            java, python = history_text.decode(python_text), decode_history(java_text)
    assert most_merchants == 64  # the merchants' bound was reached


def test_a_layout_1_history_upgrades_in_the_jvm_as_in_python(jvm):
    _, history_text = jvm
    recent = [[1_780_000_000_000 + 1_000 * i, 10.0 + i, i % 3] for i in (5, 1, 3, 2)]
    layout_1 = {"layout": 1, "recent": recent, "amount_count": 40, "amount_sum": 812.5, "last_time_ms": recent[0][0]}
    text = json.dumps(layout_1)
    assert decode_history(history_text.encode(history_text.decode(text))) == decode_history(text)


def test_state_of_a_newer_layout_fails_with_a_message_that_says_so(jvm):
    _, history_text = jvm
    with pytest.raises(Exception, match="written with layout 3; this job reads layouts up to 2"):
        history_text.decode(json.dumps({"layout": 3}))
