"""The card history seed: what the backfill leaves at the history's end is where a job's card starts."""

from __future__ import annotations

import logging
import os
import time

import numpy as np
import pandas as pd
import pytest

from flink_jobs.stages.enrich.decoded_histories import DecodedHistories
from flink_jobs.stages.features import history_seed
from flink_jobs.stages.features.card_windows import FEATURE_NAMES, CardHistory
from flink_jobs.state_layout import encode_history
from rtai.features import backfill

FIELD = history_seed.INFERENCE_FIELD


def transactions(count: int, cards: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = np.sort(rng.integers(0, 4 * 3600 * 1000, count)) + 1_790_000_000_000
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(count)],
            "card_id": rng.integers(1, cards + 1, count),
            "merchant_id": rng.integers(1, 30, count),
            "amount": np.round(rng.uniform(1, 500, count), 2),
            "event_timestamp": pd.to_datetime(times, unit="ms", utc=True),
        }
    )


def test_a_job_seeded_with_the_backfills_end_computes_the_later_features_the_backfill_of_everything_does(tmp_path):
    history = transactions(3000, 40, seed=3)
    cut = history["event_timestamp"].iloc[2000]
    before, after = history[history["event_timestamp"] < cut], history[history["event_timestamp"] >= cut]
    _, at_the_cut = backfill.replayed(before)
    assert history_seed.write(at_the_cut, tmp_path / "seed.parquet") == before["card_id"].nunique()

    seed = history_seed.load(str(tmp_path / "seed.parquet"), FIELD)
    job = DecodedHistories(seed)
    state: dict[int, str] = {}  # the job's keyed state: no card has any when it starts
    served = {}
    for row in after.sort_values(["event_timestamp", "event_id"]).itertuples():
        card = int(row.card_id)
        card_history = job.get(card, lambda card=card: state.get(card))
        ms = int(row.event_timestamp.value // 10**6)
        served[row.event_id] = card_history.add(ms, float(row.amount), int(row.merchant_id))
        state[card] = encode_history(card_history)

    everything = backfill.card_realtime(history)
    ordered = history.sort_values(["card_id", "event_timestamp", "event_id"], kind="stable")
    expected = dict(zip(ordered["event_id"], everything[list(FEATURE_NAMES)].to_dict("records"), strict=True))
    assert served == {event_id: expected[event_id] for event_id in served}
    # Without the seed a card's first later transaction looks like the card's first ever.
    first = after.iloc[0]
    unseeded = DecodedHistories().get(int(first.card_id), lambda: None)
    features = unseeded.add(int(first.event_timestamp.value // 10**6), float(first.amount), int(first.merchant_id))
    assert features["seconds_since_prev_txn"] == -1.0 != expected[first.event_id]["seconds_since_prev_txn"]


def test_a_cards_own_state_wins_over_its_seed_and_an_unknown_card_starts_empty(tmp_path):
    seeded, own = CardHistory(), CardHistory()
    seeded.add(1_000, 10.0, 1)
    own.add(5_000, 99.0, 2)
    history_seed.write({7: seeded}, tmp_path / "seed.parquet")
    job = DecodedHistories(history_seed.load(str(tmp_path / "seed.parquet"), FIELD))

    assert job.get(7, lambda: encode_history(own)).last_time_ms == 5_000
    assert DecodedHistories(job.seed).get(7, lambda: None).last_time_ms == 1_000
    assert job.get(8, lambda: None) == CardHistory()


def test_no_seed_file_is_a_warning_and_a_file_that_is_not_a_seed_fails_naming_the_field(tmp_path, caplog):
    assert history_seed.load("", FIELD) is None
    with caplog.at_level(logging.WARNING):
        assert history_seed.load(str(tmp_path / "missing.parquet"), FIELD) is None
    assert FIELD in caplog.text and "missing.parquet" in caplog.text

    (tmp_path / "text.parquet").write_text("not parquet")
    with pytest.raises(history_seed.SeedError, match=FIELD):
        history_seed.load(str(tmp_path / "text.parquet"), FIELD)
    pd.DataFrame({"card_id": [2, 1], "history": ["{}", "{}"]}).to_parquet(tmp_path / "unordered.parquet")
    with pytest.raises(history_seed.SeedError, match="ascending"):
        history_seed.load(str(tmp_path / "unordered.parquet"), FIELD)
    pd.DataFrame({"card_id": [1], "history": ['{"layout": 2}']}).to_parquet(tmp_path / "no-history.parquet")
    with pytest.raises(history_seed.SeedError, match="no card history"):
        history_seed.load(str(tmp_path / "no-history.parquet"), FIELD)


def test_the_text_copy_for_the_jvm_holds_every_cards_text_and_follows_a_newer_seed(tmp_path):
    first, second = CardHistory(), CardHistory()
    first.add(1_000, 10.0, 1)
    second.add(2_000, 20.0, 2)
    path = tmp_path / "seed.parquet"
    history_seed.write({7: first, 9: second}, path)
    copy = history_seed.text_copy(str(path), FIELD)
    seed = history_seed.load(str(path), FIELD)
    assert [line.split("\t") for line in (tmp_path / "seed.tsv").read_text().splitlines()] == [
        ["7", seed.text(7)],
        ["9", seed.text(9)],
    ]
    assert copy == str(tmp_path / "seed.tsv")

    history_seed.write({7: second}, path)
    os.utime(path, (time.time() + 5, time.time() + 5))  # newer than the copy, whatever the clock's grain
    history_seed.text_copy(str(path), FIELD)
    assert (tmp_path / "seed.tsv").read_text() == f"7\t{encode_history(second)}\n"
    assert history_seed.text_copy("", FIELD) == ""
