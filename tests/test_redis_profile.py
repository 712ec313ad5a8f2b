"""The feature repository's Redis profile: `online_store = "redis"` in stack.toml starts Redis,
and apply, materialize, push and online reads all go through a real Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flink_jobs.clients.feast_client import FeastClient
from rtai.generator import records
from rtai.stack import probes
from tests.stack_helpers import cli, copy_of_feature_repo, isolated_env, isolated_stack, isolated_stack_toml

NOW = datetime.now(UTC).replace(microsecond=0)


def history_rows() -> list[dict]:
    base = {
        "customer_id": 1,
        "merchant_category": "fuel",
        "merchant_country": "DE",
        "card_country": "DE",
        "currency": "EUR",
        "channel": "pos",
        "is_fraud": False,
        "fraud_pattern": None,
    }
    times = [NOW - timedelta(days=2), NOW - timedelta(hours=5), NOW - timedelta(hours=1)]
    return [
        {**base, "event_id": f"e{i}", "event_timestamp": at, "card_id": 7, "merchant_id": 3, "amount": 10.0 * (i + 1)}
        for i, at in enumerate(times)
    ]


@pytest.fixture(scope="module")
def redis_feature_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("redis-profile")
    repo = copy_of_feature_repo(tmp)
    history = tmp / "history.parquet"
    pq.write_table(pa.Table.from_pylist(history_rows(), schema=records.SCHEMA), history)
    toml = isolated_stack_toml({"feast": {"feature_repo": str(repo), "online_store": "redis"}})
    env = isolated_env(tmp, toml)
    result = cli("features", "backfill", "--history", str(history), env=env)
    assert result.returncode == 0, result.stderr
    # Starting feast applies the repository (no registry yet), with Redis up before it.
    with isolated_stack(tmp, ["redis", "feast"], toml) as stack:
        result = cli("features", "materialize", env=env)
        assert result.returncode == 0, result.stderr
        yield stack


def test_redis_is_started_with_the_profile(redis_feature_server):
    assert probes.redis_ping(redis_feature_server.config.redis.port)


def test_materialized_and_pushed_features_are_served_from_redis(redis_feature_server):
    feast = FeastClient(redis_feature_server.config.feast_url, timeout_s=10, retries=0, backoff_ms=1)
    try:
        names = ["card_realtime:txn_count_1h", "card_realtime:amount_to_mean_ratio", "card_stats:card_txn_count_30d"]
        served = feast.online_features({"card_id": [7]}, features=names)
        # The newest rows: the third transaction (alone in its hour, 30 over a mean of 15) and the
        # snapshot at the end of the history (all three transactions).
        assert served["txn_count_1h"].values == [1]
        assert served["amount_to_mean_ratio"].values == [2.0]
        assert served["card_txn_count_30d"].values == [3]

        pushed_at = (NOW + timedelta(seconds=1)).isoformat()
        row = {"card_id": [7], "event_timestamp": [pushed_at], "txn_count_1m": [4], "txn_count_10m": [4]}
        row |= {"txn_count_1h": [4], "amount_sum_1m": [1.0], "amount_sum_10m": [1.0], "amount_sum_1h": [1.0]}
        row |= {"distinct_merchants_10m": [2], "seconds_since_prev_txn": [3.0], "amount_to_mean_ratio": [0.5]}
        feast.push("card_realtime_push", row, to="online")
        served = feast.online_features({"card_id": [7]}, features=names[:2])
        assert served["txn_count_1h"].values == [4]
        assert served["amount_to_mean_ratio"].values == [0.5]
    finally:
        feast.close()
