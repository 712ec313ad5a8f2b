"""The feature job end to end: Pulsar in, features pushed to a real Feast, bad and late events dead-lettered.

The pushed values are read back from the offline store's push file (every row the job
pushed) and compared with the same features computed independently here with pandas.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest

import flink_jobs
from flink_jobs.config.topics import full_name
from flink_jobs.stages.features.card_windows import BUCKET_MS, BUCKETS_PER_WINDOW
from rtai import pulsar_client
from rtai.jobs import launcher
from rtai.stack import processes
from tests.flink_rest import JobRest, free_port
from tests.stack_helpers import copy_of_feature_repo, crash, isolated_stack, isolated_stack_toml

OUT_OF_ORDERNESS_S = 2
TIMEOUT_S = 180
BASE = {
    "customer_id": 1,
    "merchant_category": "grocery",
    "merchant_country": "DE",
    "card_country": "DE",
    "currency": "EUR",
    "channel": "pos",
}


def event(event_id: str, card: int, at: datetime, amount: float, merchant: int) -> dict:
    when = at.isoformat(timespec="milliseconds")
    return {
        **BASE,
        "event_id": event_id,
        "card_id": card,
        "merchant_id": merchant,
        "amount": amount,
        "event_time": when,
    }


# Publish order: (event id, card, seconds after start, amount, merchant). Two events come out of
# order within the 2 s bound (4 s after 5 s, 19 s after 20 s). "late" is published once all the
# others were pushed, far behind the watermark: it must be dead-lettered. Windows of 1 min,
# 10 min and 1 h are crossed on purpose.
SCRIPT = [
    ("c11-0", 11, 0, 12.5, 1),
    ("c12-0", 12, 5, 40.0, 9),
    ("c12-1", 12, 4, 41.0, 9),
    ("c11-1", 11, 20, 3.0, 1),
    ("c11-2", 11, 19, 7.25, 2),
    ("c13-0", 13, 30, 2500.0, 7),
    ("c11-3", 11, 70, 100.0, 3),
    ("c11-4", 11, 75, 1.0, 4),
    ("c11-5", 11, 700, 55.0, 1),
    ("c11-6", 11, 701, 5.0, 5),
    ("c12-2", 12, 3700, 9.99, 9),
    ("late", 11, 60, 8.0, 1),
]


def pulsar_and_topics(stack, transactions: str, dead_letter: str) -> str:
    """A test pipeline's [pulsar] (the session's stack) and [topics] tables, as TOML."""
    return (
        f'[pulsar]\nservice_url = "{stack.pulsar_service_url}"\nadmin_url = "{stack.pulsar_admin_url}"\n'
        f'[topics]\ntransactions = "{transactions}"\ndead_letter = "{dead_letter}"\n'
    )


def scripted_events(start: datetime, card_offset: int = 0) -> list[dict]:
    """SCRIPT's events; `card_offset` added to its card ids (a run of its own in a shared repository)."""
    return [event(i, card + card_offset, start + timedelta(seconds=at), amount, m) for i, card, at, amount, m in SCRIPT]


def pushed_rows(repo: Path, cards: set[int]) -> pd.DataFrame:
    """The rows the job pushed to the offline store for `cards`, one per transaction
    (a row pushed again after a restart from a checkpoint counts once)."""
    pushed = pd.read_parquet(repo / "data" / "card_realtime_features.parquet")
    pushed = pushed[pushed["card_id"].isin(cards)].drop_duplicates()
    return pushed.sort_values(["card_id", "event_timestamp"]).reset_index(drop=True)


def wait_for_checkpoints(folder: Path, more: int, timeout_s: float = 60) -> None:
    """Until `more` checkpoints complete from now on (each one's chk-N/_metadata written under `folder`)."""

    def newest() -> int:
        return max((int(m.parent.name.removeprefix("chk-")) for m in folder.glob("*/chk-*/_metadata")), default=0)

    target = newest() + more
    deadline = time.monotonic() + timeout_s
    while newest() < target:
        assert time.monotonic() < deadline, f"no checkpoint {target} under {folder} within {timeout_s} s"
        time.sleep(0.2)


def wait_for_rows(repo: Path, cards: set[int], count: int, timeout_s: float = TIMEOUT_S) -> pd.DataFrame:
    deadline = time.monotonic() + timeout_s
    while True:
        pushed = pushed_rows(repo, cards)
        if len(pushed) >= count or time.monotonic() > deadline:
            return pushed
        time.sleep(0.5)


def expected_features(events: list[dict]) -> pd.DataFrame:
    """The features by their definition (card_windows.py): a window is its transaction's time
    bucket and the 59 before it, distinct merchants are those seen in (t - 10 min, t]."""
    frame = pd.DataFrame(events)
    frame["t"] = pd.to_datetime(frame["event_time"], utc=True)
    frame["ms"] = frame["t"].astype("int64") // 10**6
    rows = []
    for _, event in frame.iterrows():
        card = frame[frame["card_id"] == event["card_id"]]
        before = card[card["t"] < event["t"]]
        seen = card[card["t"] <= event["t"]]
        row = {"card_id": event["card_id"], "event_timestamp": event["t"]}
        for name, width in BUCKET_MS.items():
            in_window = seen[seen["ms"] // width > event["ms"] // width - BUCKETS_PER_WINDOW]
            row[f"txn_count_{name}"] = len(in_window)
            row[f"amount_sum_{name}"] = round(in_window["amount"].sum(), 2)
        recent = seen[seen["t"] > event["t"] - pd.Timedelta("600s")]
        row["distinct_merchants_10m"] = recent["merchant_id"].nunique()
        row["seconds_since_prev_txn"] = (event["t"] - before["t"].max()).total_seconds() if len(before) else -1.0
        row["amount_to_mean_ratio"] = event["amount"] / before["amount"].mean() if len(before) else 1.0
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["card_id", "event_timestamp"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def feature_repo_copy(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("features")
    repo = copy_of_feature_repo(tmp)
    with isolated_stack(tmp, ["feast"], isolated_stack_toml({"feast": {"feature_repo": str(repo)}})) as stack:
        yield stack, repo


# Each design's late events among SCRIPT's: python waits for the watermark and reorders within
# its bound; java takes each card's transactions in arrival order and dead-letters one older than
# its card's latest.
LATE = {"python": {"late"}, "java": {"late", "c12-1", "c11-2"}}
CARD_OFFSET = {"python": 0, "java": 100}
WINDOWS_OFFSET = {"python": 0, "jvm": 100}  # java batching's two card window designs apart too


@pytest.mark.parametrize(("batching", "card_windows"), [("python", "jvm"), ("java", "python"), ("java", "jvm")])
def test_pushed_features_equal_pandas_and_bad_events_are_dead_lettered(
    stack, feature_repo_copy, tmp_path, batching, card_windows
):
    feast_stack, repo = feature_repo_copy
    run_id = uuid.uuid4().hex[:8]
    topics = {"transactions": full_name(f"test-features-{run_id}"), "dead_letter": full_name(f"test-dl-{run_id}")}
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text(
        pulsar_and_topics(stack, topics["transactions"], topics["dead_letter"])
        + f'[feature_job]\nsubscription = "test"\nmax_out_of_orderness_ms = {OUT_OF_ORDERNESS_S * 1000}\n'
        f'checkpoint_interval_ms = 1000\nbatching = "{batching}"\ncard_windows = "{card_windows}"\n'
        f'[feature_job.feast]\nurl = "{feast_stack.config.feast_url}"\n'
        '[feature_job.push]\nto = "online_and_offline"\n'
        # Two lanes: a card's rows in order on its own lane, the last one online its latest.
        f"batch_size = 4\nmax_wait_ms = 100\nlanes = 2\n"
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    # The designs' rows apart in the module's repository.
    offset = CARD_OFFSET[batching] + (WINDOWS_OFFSET[card_windows] if batching == "java" else 0)
    events = scripted_events(start, offset)
    published = [e for e in events if e["event_id"] != "late"]
    valid = [e for e in events if e["event_id"] not in LATE[batching]]
    bad = [
        b"{not json",
        json.dumps({**BASE, "event_id": "x"}).encode(),
        json.dumps({**valid[0], "event_id": "neg", "amount": -5}).encode(),
        json.dumps({**valid[0], "event_id": "str", "card_id": "eleven"}).encode(),
    ]
    # An event at the job's clock moves the watermark past every scripted one (the last is an
    # hour behind it), so all are emitted; the watermark never passes the clock.
    tick = event("tick", 99, datetime.now(UTC), 1.0, 1)

    client = pulsar_client.connect(stack.pulsar_service_url)
    job = launcher.start_local("flink_jobs.jobs.card_features", ["--pipeline", str(pipeline)], tmp_path / "job.log")
    try:
        dead_letters = client.subscribe(topics["dead_letter"], "test")
        producer = client.create_producer(topics["transactions"])
        for scripted in published:
            producer.send(json.dumps(scripted).encode())
        for raw in bad:
            producer.send(raw)
        producer.send(json.dumps(tick).encode())

        pushed = wait_for_rows(repo, {11 + offset, 12 + offset, 13 + offset}, len(valid))
        producer.send(json.dumps(events[-1]).encode())
        reasons = []
        while len(reasons) < len(bad) + len(LATE[batching]):
            msg = dead_letters.receive(timeout_millis=30_000)
            reasons.append(json.loads(msg.data())["reason"])
            dead_letters.acknowledge(msg)
    finally:
        launcher.stop_local(job)
        client.close()

    expected = expected_features(valid)
    assert len(pushed) == len(expected), (tmp_path / "job.log").read_text()[-2000:]
    pd.testing.assert_frame_equal(
        pushed[expected.columns], expected, check_dtype=False, check_exact=False, rtol=1e-6, atol=1e-6
    )
    assert sorted(r.split(":")[0] for r in reasons) == sorted(
        ["malformed JSON", "missing field", "invalid amount", "wrong type for card_id"]
        + ["late event"] * len(LATE[batching])
    )

    online = httpx.post(
        f"{feast_stack.config.feast_url}/get-online-features",
        json={
            "features": ["card_realtime:txn_count_10m", "card_realtime:amount_sum_1h"],
            "entities": {"card_id": [11 + offset]},
        },
        timeout=10,
    ).json()
    values = {n: r["values"][0] for n, r in zip(online["metadata"]["feature_names"], online["results"], strict=True)}
    last = expected[expected["card_id"] == 11 + offset].iloc[-1]
    assert values["txn_count_10m"] == last["txn_count_10m"]
    assert values["amount_sum_1h"] == pytest.approx(last["amount_sum_1h"])


def test_the_feature_server_reads_while_a_write_holds_the_online_store(feature_repo_copy):
    """The stack's apply leaves the SQLite online store in write-ahead-log mode: a read is answered
    while a writer holds the database. (In SQLite's default mode it waits on the lock, and after
    the driver's 5 s Feast answers with an error.)"""
    feast_stack, repo = feature_repo_copy
    with closing(sqlite3.connect(repo / "data" / "online_store.db", isolation_level=None)) as writer:
        writer.execute("BEGIN EXCLUSIVE")
        try:
            response = httpx.post(
                f"{feast_stack.config.feast_url}/get-online-features",
                json={"features": ["card_realtime:txn_count_10m"], "entities": {"card_id": [1]}},
                timeout=30,
            )
        finally:
            writer.execute("ROLLBACK")
    assert response.status_code == 200, response.text
    body = response.json()
    columns = dict(zip(body["metadata"]["feature_names"], body["results"], strict=True))
    assert columns["txn_count_10m"]["statuses"] == ["NOT_FOUND"]  # card 1: never pushed here


def pipeline_file(path: Path, stack, feast_url: str, topic: str, dead_letter: str, batching: str) -> Path:
    path.write_text(
        pulsar_and_topics(stack, topic, dead_letter)
        + f'[feature_job]\nsubscription = "test"\nmax_out_of_orderness_ms = {OUT_OF_ORDERNESS_S * 1000}\n'
        f'checkpoint_interval_ms = 1000\nbatching = "{batching}"\n'
        f'[feature_job.feast]\nurl = "{feast_url}"\n'
        '[feature_job.push]\nto = "online_and_offline"\n'
        "batch_size = 10\nmax_wait_ms = 100\n"
    )
    return path


def assert_rows_equal_pandas(pushed: pd.DataFrame, events: list[dict], log: Path) -> None:
    """One pushed row per event, each equal to the features pandas computes for it."""
    expected = expected_features(events)
    assert len(pushed) == len(expected), log.read_text()[-3000:]
    pd.testing.assert_frame_equal(
        pushed[expected.columns], expected, check_dtype=False, check_exact=False, rtol=1e-6, atol=1e-6
    )


def fresh_pipeline(folder: Path, stack, feast_stack, name: str, batching: str) -> tuple[Path, str]:
    """A pipeline file on topics of this run's own; its input topic."""
    run_id = uuid.uuid4().hex[:8]
    topic, dead_letter_topic = full_name(f"test-{name}-{run_id}"), full_name(f"test-{name}-dl-{run_id}")
    url = feast_stack.config.feast_url
    return pipeline_file(folder / "pipeline.toml", stack, url, topic, dead_letter_topic, batching), topic


@pytest.mark.parametrize("batching", ["python", "java"])
def test_a_killed_job_resumes_from_its_checkpoint_and_no_window_loses_events(
    stack, feature_repo_copy, tmp_path, batching
):
    repo = feature_repo_copy[1]
    pipeline, topic = fresh_pipeline(tmp_path, stack, feature_repo_copy[0], "restart", batching)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    first_card = 21 + CARD_OFFSET[batching]
    cards = set(range(first_card, first_card + 5))
    # 160 transactions 15 s apart over 5 cards: every card's 1 h window fills up across the crash.
    events = [event(f"r{i}", first_card + i % 5, start + timedelta(seconds=15 * i), 1.0 + i, i % 7) for i in range(160)]
    tick = event("tick", 98, start + timedelta(hours=2, minutes=50), 1.0, 1)
    args = ["--pipeline", str(pipeline), "--checkpoint-dir", str(tmp_path / "checkpoints")]

    client = pulsar_client.connect(stack.pulsar_service_url)
    producer = client.create_producer(topic)
    first = launcher.start_local("flink_jobs.jobs.card_features", args, tmp_path / "first.log")
    second = None
    try:
        for scripted in events[:80]:
            producer.send(json.dumps(scripted).encode())
        before = wait_for_rows(repo, cards, 50)
        assert len(before) >= 50, (tmp_path / "first.log").read_text()[-3000:]
        wait_for_checkpoints(tmp_path / "checkpoints", more=2)  # taken after those pushes
        crash(first)
        assert not processes.is_running(first)
        for scripted in events[80:]:
            producer.send(json.dumps(scripted).encode())
        producer.send(json.dumps(tick).encode())
        second = launcher.start_local(
            "flink_jobs.jobs.card_features", [*args, "--from-savepoint", "latest"], tmp_path / "second.log"
        )
        after = wait_for_rows(repo, cards, len(events))
    finally:
        launcher.stop_local(first)
        if second is not None:
            launcher.stop_local(second)
        client.close()

    assert_rows_equal_pandas(after, events, tmp_path / "second.log")
    # Resumed from the checkpoint, not replayed from the start: the rows pushed before the crash
    # (all covered by a checkpoint) are not pushed a second time.
    raw = pd.read_parquet(repo / "data" / "card_realtime_features.parquet")
    assert raw["card_id"].isin(cards).sum() - len(after) < 10


def next_version_of_the_package(folder: Path, marker: Path) -> Path:
    """A copy of flink_jobs as a later version might change it: CardHistory renamed (and moved to
    a module of another name), Transaction with a new field. Every process that imports the copy
    appends to `marker`. The folder to run the job from."""
    package = folder / "flink_jobs"
    shutil.copytree(Path(flink_jobs.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    features = package / "stages" / "features"
    (features / "card_windows.py").rename(features / "card_window_history.py")
    for source in package.rglob("*.py"):
        text = source.read_text()
        text = text.replace("card_windows", "card_window_history").replace("CardHistory", "CardWindowHistory")
        source.write_text(text)
    events = package / "events.py"
    last_field = "    fraud_pattern: str | None = None\n"
    assert last_field in events.read_text()
    events.write_text(events.read_text().replace(last_field, last_field + "    device_id: str | None = None\n"))
    init = package / "__init__.py"
    announce = f"\nwith open({str(marker)!r}, 'a') as _marker:\n    _marker.write('imported\\n')\n"
    init.write_text(init.read_text() + announce)
    return folder


def test_a_savepoint_restores_after_the_state_classes_are_renamed_and_gain_a_field(stack, feature_repo_copy, tmp_path):
    repo = feature_repo_copy[1]
    # The python design's state (a card's history per card key, its transactions per event time).
    pipeline, topic = fresh_pipeline(tmp_path, stack, feature_repo_copy[0], "layout", "python")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    cards = {31, 32, 33}
    events = [event(f"s{i}", 31 + i % 3, start + timedelta(seconds=20 * i), 2.0 + i, i % 4) for i in range(60)]
    tick = event("tick", 97, start + timedelta(hours=1, minutes=50), 1.0, 1)
    client = pulsar_client.connect(stack.pulsar_service_url)
    producer = client.create_producer(topic)
    rest = JobRest(free_port())
    first = launcher.start_local(
        "flink_jobs.jobs.card_features", ["--pipeline", str(pipeline), *rest.args()], tmp_path / "first.log"
    )
    second = None
    try:
        for scripted in events[:30]:
            producer.send(json.dumps(scripted).encode())
        assert len(wait_for_rows(repo, cards, 25)) >= 25, (tmp_path / "first.log").read_text()[-3000:]
        savepoint = rest.stop_with_savepoint(tmp_path / "savepoints")
        launcher.stop_local(first)
        for scripted in [*events[30:], tick]:
            producer.send(json.dumps(scripted).encode())
        marker = tmp_path / "next-version-imported"
        second = launcher.start_local(
            "flink_jobs.jobs.card_features",
            ["--pipeline", str(pipeline), "--from-savepoint", savepoint],
            tmp_path / "second.log",
            cwd=next_version_of_the_package(tmp_path / "next", marker),
        )
        after = wait_for_rows(repo, cards, len(events))
    finally:
        launcher.stop_local(first)
        if second is not None:
            launcher.stop_local(second)
        client.close()

    assert marker.is_file()  # the second job ran the renamed code
    # The windows of the events after the savepoint count those before it: the histories restored.
    assert_rows_equal_pandas(after, events, tmp_path / "second.log")
