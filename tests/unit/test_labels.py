"""Delayed labels: the generator's delays and the label schema the model-quality job reads."""

from __future__ import annotations

import numpy as np
import pytest

from flink_jobs.events import InvalidEvent, Label, label_json, parse_label
from rtai.generator.labels import LEGIT_DELAY_FACTOR, label_delay_ms


def test_frauds_are_labelled_sooner_and_more_spread_out_than_legitimate_transactions():
    rng = np.random.default_rng(1)
    fraud = np.array([label_delay_ms(True, 100.0, rng) for _ in range(4000)])
    legit = np.array([label_delay_ms(False, 100.0, rng) for _ in range(4000)])
    assert np.median(fraud) == pytest.approx(100_000, rel=0.06)
    assert np.median(legit) == pytest.approx(100_000 * LEGIT_DELAY_FACTOR, rel=0.06)
    assert np.std(np.log(fraud)) > 2 * np.std(np.log(legit))
    assert (fraud > 0).all()


def test_a_label_round_trips_and_bad_ones_are_refused_with_the_reason():
    label = Label("e-1", True, 1_764_496_800_000, 1_764_500_400_000)
    assert parse_label(label_json(label)) == label
    with pytest.raises(InvalidEvent, match="missing field: is_fraud"):
        parse_label('{"event_id": "e", "event_time": "2026-12-01T00:00:00Z", "label_time": "2026-12-01T00:00:00Z"}')
    with pytest.raises(InvalidEvent, match="invalid label_time: before"):
        parse_label(label_json(Label("e", False, 2_000, 1_000)))
    with pytest.raises(InvalidEvent, match="malformed JSON"):
        parse_label(b"{")
