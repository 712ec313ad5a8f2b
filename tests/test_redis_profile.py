"""The feature repository's Redis profile: `online_store = "redis"` in stack.toml starts Redis,
and apply, materialize, push and online reads all go through a real Redis; the feature job's
JVM writer (push.writer = "redis") writes rows the feature server serves as its own."""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flink_jobs.clients.feast_client import FeastClient
from flink_jobs.config.topics import full_name
from flink_jobs.stages.features.card_windows import FEATURE_NAMES
from rtai import pulsar_client
from rtai.generator import records
from rtai.jobs import launcher
from rtai.stack import probes
from tests.stack_helpers import cli, copy_of_feature_repo, isolated_env, isolated_stack, isolated_stack_toml
from tests.test_feature_job import BASE, LATE, event, expected_features, pulsar_and_topics, scripted_events

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


def generated_events(start: datetime, cards: range, seed: int) -> list[dict]:
    """One to five transactions per card, in event-time order per card, amounts with cents."""
    rng = random.Random(seed)
    events = []
    for card in cards:
        at = start + timedelta(seconds=rng.randrange(3600))
        for n in range(rng.randint(1, 5)):
            at += timedelta(seconds=rng.randrange(1, 900), milliseconds=rng.randrange(1000))
            events.append(event(f"g{card}-{n}", card, at, round(rng.uniform(0.5, 900), 2), rng.randrange(1, 20)))
    return events


def served_rows(feast: FeastClient, cards: list[int]) -> pd.DataFrame:
    """The card_realtime row the feature server serves for each card, with its event time."""
    names = [f"card_realtime:{name}" for name in FEATURE_NAMES]
    served = feast.online_features({"card_id": cards}, features=names)
    columns = {"card_id": cards} | {name: served[name].values for name in FEATURE_NAMES}
    columns["event_timestamp"] = served[FEATURE_NAMES[0]].event_timestamps
    columns["status"] = served[FEATURE_NAMES[0]].statuses
    return pd.DataFrame(columns)


def event_times(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column, utc=True, format="ISO8601").reset_index(drop=True)


def test_the_jvm_writer_writes_rows_the_feature_server_serves(stack, redis_feature_server, tmp_path):
    """The job on push.writer = "redis" (no feature server on its path): for every card, what the
    feature server serves from Redis equals the card's last row computed independently with
    pandas, value by value, with its event time; bad and late events are dead-lettered."""
    run_id = uuid.uuid4().hex[:8]
    topics = {"transactions": full_name(f"test-redis-writer-{run_id}"), "dead_letter": full_name(f"test-dl-{run_id}")}
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text(
        pulsar_and_topics(stack, topics["transactions"], topics["dead_letter"])
        + '[feature_job]\nsubscription = "test"\ncheckpoint_interval_ms = 1000\n'
        'batching = "java"\ncard_windows = "jvm"\n'
        '[feature_job.push]\nwriter = "redis"\n'
        f'[feature_job.redis]\nurl = "redis://127.0.0.1:{redis_feature_server.config.redis.port}"\n'
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    scripted = scripted_events(start, 300)
    generated = generated_events(start, range(1000, 1060), seed=7)
    valid = [e for e in scripted if e["event_id"] not in LATE["java"]] + generated
    bad = [b"{not json", json.dumps({**BASE, "event_id": "x"}).encode()]
    cards = sorted({e["card_id"] for e in valid})
    expected = expected_features(valid).groupby("card_id").tail(1).reset_index(drop=True)

    client = pulsar_client.connect(stack.pulsar_service_url)
    feast = FeastClient(redis_feature_server.config.feast_url, timeout_s=10, retries=0, backoff_ms=1)
    job = launcher.start_local("flink_jobs.jobs.card_features", ["--pipeline", str(pipeline)], tmp_path / "job.log")
    try:
        dead_letters = client.subscribe(topics["dead_letter"], "test")
        producer = client.create_producer(topics["transactions"])
        for raw in [json.dumps(e).encode() for e in scripted + generated] + bad:
            producer.send(raw)
        reasons = []
        while len(reasons) < len(bad) + len(LATE["java"]):
            msg = dead_letters.receive(timeout_millis=60_000)
            reasons.append(json.loads(msg.data())["reason"].split(":")[0])
            dead_letters.acknowledge(msg)
        # A late event's dead letter leaves after the rows of its own batch, not of later ones; and
        # Feast's Redis store serves a card it holds no row for as PRESENT, with epoch 0 as its event
        # time. So the wait is for every card's last event time, which only the last row carries.
        deadline = time.monotonic() + 60
        last_times = list(event_times(expected["event_timestamp"]))
        while list(event_times((served := served_rows(feast, cards))["event_timestamp"])) != last_times:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        launcher.stop_local(job)
        feast.close()
        client.close()

    assert sorted(reasons) == sorted(["malformed JSON", "missing field"] + ["late event"] * len(LATE["java"]))
    assert served["status"].eq("PRESENT").all(), (tmp_path / "job.log").read_text()[-3000:]
    assert list(event_times(served["event_timestamp"])) == last_times
    pd.testing.assert_frame_equal(
        served[expected.columns[2:]], expected[expected.columns[2:]], check_dtype=False, rtol=1e-6, atol=1e-6
    )
    assert served["txn_count_1h"].map(type).eq(int).all() and served["amount_sum_1h"].map(type).eq(float).all()
