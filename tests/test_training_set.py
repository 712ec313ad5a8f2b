"""The training set: `rtai features backfill` then `training-set` on a tiny constructed history,
checked for point-in-time correctness (no row sees a feature stamped after its own time
minus the serving lag) against the real Feast SDK and DuckDB offline store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flink_jobs.stages.features.card_windows import FEATURE_NAMES
from flink_jobs.stages.features.defaults import MISSING_FLAG
from rtai.features import backfill
from rtai.generator import records
from tests.stack_helpers import cli, copy_of_feature_repo, isolated_env, isolated_stack_toml

LAG_MS = 1000
DAY0 = datetime(2026, 3, 2, tzinfo=UTC)
# Card 1 pays at merchant 5: twice within half a second, then the next day. Card 2 pays once.
HISTORY = [
    ("a", 1, 5, DAY0 + timedelta(hours=10), 20.0),
    ("b", 1, 5, DAY0 + timedelta(hours=10, milliseconds=500), 30.0),
    ("c", 1, 5, DAY0 + timedelta(days=1, hours=9), 100.0),
    ("d", 2, 5, DAY0 + timedelta(days=1, hours=9, minutes=30), 7.0),
]


def write_history(path) -> None:
    rows = [
        {
            "event_id": event_id,
            "event_timestamp": at,
            "card_id": card,
            "customer_id": card,
            "merchant_id": merchant,
            "merchant_category": "grocery",
            "merchant_country": "DE",
            "card_country": "DE" if card == 1 else "FR",
            "amount": amount,
            "currency": "EUR",
            "channel": "pos",
            "is_fraud": event_id == "c",
            "fraud_pattern": "large_amount" if event_id == "c" else None,
        }
        for event_id, card, merchant, at, amount in HISTORY
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=records.SCHEMA), path)


@pytest.fixture(scope="module")
def training_sets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("training")
    repo = copy_of_feature_repo(tmp)
    env = isolated_env(tmp, isolated_stack_toml({"feast": {"feature_repo": str(repo)}}))
    history = tmp / "history.parquet"
    write_history(history)

    for command in (("features", "backfill", "--history", str(history)), ("features", "apply")):
        result = cli(*command, env=env)
        assert result.returncode == 0, result.stderr
    # A leak trap: a real-time row stamped 1 ms after c's lookup time, with values no real row has.
    realtime_file = repo / backfill.CARD_REALTIME_FILE
    realtime = pd.read_parquet(realtime_file)
    trap = realtime[realtime["card_id"] == 1].tail(1).copy()
    trap["event_timestamp"] = pd.Timestamp(HISTORY[2][3]) - pd.Timedelta(milliseconds=LAG_MS - 1)
    trap["txn_count_1m"] = 999
    pd.concat([realtime, trap], ignore_index=True).to_parquet(realtime_file, index=False)

    sets = {}
    # Lag 1 s pairs with the real-time view read from Feast; lag 0 with the view the inference job computes.
    for lag_ms, realtime_features in ((LAG_MS, "feast"), (0, "job")):
        pipeline = tmp / f"pipeline-{lag_ms}.toml"
        pipeline.write_text(
            f'[features]\nservice = "fraud_scoring_v1"\ntraining_feature_lag_ms = {lag_ms}\n'
            f'[inference_job]\nrealtime_features = "{realtime_features}"\n'
        )
        out = tmp / f"training-{lag_ms}.parquet"
        command = (
            "features",
            "training-set",
            "--history",
            str(history),
            "--pipeline",
            str(pipeline),
            "--out",
            str(out),
        )
        result = cli(*command, env=env)
        assert result.returncode == 0, result.stderr
        assert "label rate 25.00%" in result.stdout, result.stdout
        sets[lag_ms] = pd.read_parquet(out).set_index("event_id")
    return sets, pd.read_parquet(history)


@pytest.fixture(scope="module")
def training_set(training_sets):
    return training_sets[0][LAG_MS]


def test_every_transaction_is_a_row_with_its_label(training_set):
    assert sorted(training_set.index) == ["a", "b", "c", "d"]
    assert training_set["is_fraud"].to_dict() == {"a": False, "b": False, "c": True, "d": False}


def test_realtime_features_stop_before_the_lag(training_set):
    # b is 0.5 s after a, inside the 1 s lag: it sees no earlier row, so the documented defaults.
    b = training_set.loc["b"]
    assert b[MISSING_FLAG]
    assert b["seconds_since_prev_txn"] == -1.0
    assert b["amount_to_mean_ratio"] == 1.0
    assert b["txn_count_1h"] == 0
    # c sees the card as of b (two transactions), never its own row or the trap stamped after c - lag.
    c = training_set.loc["c"]
    assert c["txn_count_1m"] == 2
    assert c["amount_sum_1h"] == pytest.approx(50.0)
    assert c["seconds_since_prev_txn"] == pytest.approx(0.5)


def test_batch_statistics_come_from_the_snapshot_before_the_row(training_set):
    # a and b happen before the first daily snapshot (the next midnight): no statistics yet.
    assert training_set.loc["a"][MISSING_FLAG]
    assert training_set.loc["a"]["card_txn_count_30d"] == 0
    # c and d read the snapshot at midnight of day 1: a and b only, not c or d themselves.
    c = training_set.loc["c"]
    assert c["card_txn_count_30d"] == 2
    assert c["card_amount_mean_30d"] == pytest.approx(25.0)
    assert c["merchant_txn_count_7d"] == 2
    assert c["merchant_distinct_cards_7d"] == 1
    d = training_set.loc["d"]
    assert d["card_txn_count_30d"] == 0
    assert d["merchant_txn_count_7d"] == 2
    assert d["merchant_foreign_card_share_7d"] == 0.0


def test_at_lag_zero_each_row_has_the_card_features_as_of_itself_as_the_inference_job_computes_them(training_sets):
    sets, history = training_sets
    at_zero = sets[0]
    # What the job's keyed state computes for each transaction (the same CardHistory, in time order).
    computed = backfill.card_realtime(history.sort_values("event_timestamp"))
    ordered = history.sort_values(["card_id", "event_timestamp", "event_id"])["event_id"]
    for event_id, row in zip(ordered, computed.to_dict("records"), strict=True):
        assert {name: at_zero.loc[event_id][name] for name in FEATURE_NAMES} == pytest.approx(
            {name: row[name] for name in FEATURE_NAMES}
        ), event_id
    # b sees itself and a, half a second before; c is the card's third transaction, the next day.
    assert (at_zero.loc["b"]["txn_count_1m"], at_zero.loc["b"]["seconds_since_prev_txn"]) == (2, 0.5)
    assert at_zero.loc["c"]["txn_count_1h"] == 1
    assert at_zero.loc["a"]["txn_count_1m"] == 1
