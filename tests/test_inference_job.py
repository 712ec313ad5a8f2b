"""The inference job end to end on real servers: Pulsar in, Feast (pushed and materialized
features), Triton (a model with the fraud model's inputs), predictions, alerts and dead letters out."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import tomllib
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pulsar
import pytest
import tomli_w

from flink_jobs.clients.feast_client import FeastClient
from flink_jobs.config.pipeline_config import CachedView
from flink_jobs.config.topics import full_name
from flink_jobs.events import parse
from flink_jobs.stages.enrich.enricher import Enricher
from flink_jobs.stages.features import history_seed
from flink_jobs.stages.features.card_windows import FEATURE_NAMES
from flink_jobs.stages.features.defaults import MISSING_FLAG, default
from flink_jobs.stages.inference.request_features import REQUEST_FEATURES, request_features
from rtai import pulsar_client, subscription_stats
from rtai.features import backfill
from rtai.features.batch_stats import CARD_STATS, MERCHANT_STATS
from rtai.jobs import launcher
from rtai.models import repository as models
from rtai.stack import flink_job_record, processes
from tests.flink_rest import JobRest, free_port
from tests.onnx_models import onnx_scores, write_columns_model, write_square_root_model
from tests.stack_helpers import (
    cli,
    copy_of_feature_repo,
    crash,
    isolated_env,
    isolated_stack,
    isolated_stack_toml,
    receive_all,
    receive_messages,
    start_service,
    stop_service,
)

COLUMNS = [*REQUEST_FEATURES, *FEATURE_NAMES, *CARD_STATS, *MERCHANT_STATS]
NOW = datetime.now(UTC).replace(microsecond=0)
UNKNOWN_CARD = 999
SQUARE_ROOT_LIMIT = 500.0  # the fraud_sqrt model scores sqrt(500 - amount): no number above 500
RULES = [("high_score", 0.7, 0.0), ("medium_score_large_amount", 0.4, 500.0)]


def realtime_row(card: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    counts = sorted(int(v) for v in rng.integers(1, 30, 3))
    sums = sorted(float(round(v, 2)) for v in rng.uniform(10, 2000, 3))
    values = [*counts, *sums, int(rng.integers(1, 5)), float(rng.uniform(1, 3600)), float(rng.uniform(0.1, 5))]
    return {"card_id": card, **dict(zip(FEATURE_NAMES, values, strict=True))}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inference")
    repo = copy_of_feature_repo(tmp)
    (repo / "data").mkdir()
    stamp = pd.Timestamp(NOW - timedelta(hours=1))
    pd.DataFrame(
        {"card_id": [1, 2], "event_timestamp": [stamp] * 2, CARD_STATS[0]: [40, 3]}
        | {CARD_STATS[1]: [55.5, 12.0], CARD_STATS[2]: [20.0, 1.5], CARD_STATS[3]: [0.1, 0.0]}
    ).to_parquet(repo / "data" / "card_stats.parquet")
    pd.DataFrame(
        {"merchant_id": [7], "event_timestamp": [stamp], MERCHANT_STATS[0]: [500], MERCHANT_STATS[1]: [300]}
        | {MERCHANT_STATS[2]: [0.25]}
    ).to_parquet(repo / "data" / "merchant_stats.parquet")
    model = tmp / "model.onnx"
    write_columns_model(model, COLUMNS, seed=3)
    toml = isolated_stack_toml({"feast": {"feature_repo": str(repo)}, "triton": {"model_repository": str(tmp / "tr")}})
    env = isolated_env(tmp, toml)
    registered = cli("model", "register", "--model", str(model), "--name", "fraud_mlp", env=env)
    assert registered.returncode == 0, registered.stderr
    square_root = tmp / "square_root.onnx"
    write_square_root_model(square_root, COLUMNS, "amount", SQUARE_ROOT_LIMIT)
    registered = cli("model", "register", "--model", str(square_root), "--name", "fraud_sqrt", env=env)
    assert registered.returncode == 0, registered.stderr
    with isolated_stack(tmp, ["feast", "triton"], toml) as stack:
        materialized = cli("features", "materialize", env=env)
        assert materialized.returncode == 0, materialized.stderr
        feast = FeastClient(stack.config.feast_url, timeout_s=10, retries=0, backoff_ms=1)
        rows = [realtime_row(1, 1), realtime_row(2, 2)]
        stamps = {"event_timestamp": [(NOW - timedelta(minutes=5)).isoformat()] * 2}
        feast.push("card_realtime_push", {k: [r[k] for r in rows] for k in rows[0]} | stamps, to="online")
        feast.close()
        yield stack, tmp, model, {r["card_id"]: r for r in rows}


def expected_features(card: int, merchant: int, realtime: dict[int, dict]) -> tuple[dict, bool]:
    stats = {1: [40, 55.5, 20.0, 0.1], 2: [3, 12.0, 1.5, 0.0]}
    merchants = {7: [500, 300, 0.25]}
    values = {n: default(n) for n in (*FEATURE_NAMES, *CARD_STATS, *MERCHANT_STATS)}
    if card in realtime:
        values |= {n: realtime[card][n] for n in FEATURE_NAMES}
    if card in stats:
        values |= dict(zip(CARD_STATS, stats[card], strict=True))
    if merchant in merchants:
        values |= dict(zip(MERCHANT_STATS, merchants[merchant], strict=True))
    return values, card not in realtime or card not in stats or merchant not in merchants


def event(index: int, card: int, merchant: int, amount: float, channel: str = "pos", country: str = "DE") -> dict:
    return {
        "event_id": f"inf-{index}",
        "event_time": (NOW + timedelta(milliseconds=index)).isoformat(timespec="milliseconds"),
        "card_id": card,
        "customer_id": card,
        "merchant_id": merchant,
        "merchant_category": "electronics",
        "merchant_country": country,
        "card_country": "DE",
        "amount": amount,
        "currency": "EUR",
        "channel": channel,
    }


CACHED_VIEWS = [("card_stats", "card_id"), ("merchant_stats", "merchant_id")]
HISTORY_EVENTS = 30  # of the real-time view test's 80: the backfilled history the job is seeded with


def spaced_events(seed: int, count: int) -> list[dict]:
    """`count` events of cards 1, 2 and UNKNOWN_CARD at merchants 7 and 8, 1-180 s apart, from two
    hours ago: several in each card's windows."""
    rng = np.random.default_rng(seed)
    events, moment = [], NOW - timedelta(hours=2)
    for i in range(count):
        moment += timedelta(seconds=float(rng.uniform(1, 180)))
        card, merchant = int(rng.choice([1, 2, UNKNOWN_CARD])), int(rng.choice([7, 8]))
        events.append(event(i, card, merchant, float(round(rng.uniform(1, 900), 2))))
        events[-1]["event_time"] = moment.isoformat(timespec="milliseconds")
    return events


def history_of(events: list[dict]) -> pd.DataFrame:
    """The events as the backfill reads a history."""
    return pd.DataFrame(
        {k: [e[k] for e in events] for k in ("event_id", "card_id", "merchant_id", "amount")}
        | {"event_timestamp": pd.to_datetime([e["event_time"] for e in events])}
    )


def training_rows_of(events: list[dict]) -> dict[str, dict]:
    """Each event's row of the backfill of all of them (its card's real-time view), by event id."""
    backfilled = backfill.card_realtime(history_of(events))  # ordered by card, then time
    in_backfill_order = sorted(events, key=lambda e: (e["card_id"], e["event_time"]))
    return {e["event_id"]: row for e, row in zip(in_backfill_order, backfilled.to_dict("records"), strict=True)}


def model_rows(events: list[dict], training_rows: dict[str, dict]) -> list[dict]:
    """Each event's model input: its request features, Feast's other views and the backfill's card view."""
    rows = []
    for e in events:
        other_views, _ = expected_features(e["card_id"], e["merchant_id"], {})
        card_view = {name: training_rows[e["event_id"]][name] for name in FEATURE_NAMES}
        rows.append(request_features(e["amount"], e["channel"], e["merchant_country"], e["card_country"]))
        rows[-1] |= other_views | card_view
    return rows


def write_pipeline(
    folder,
    stack,
    isolated,
    *,
    delivery: str = "at-least-once",
    triton_retries: int = 5,
    restart_delay_ms: int = 10_000,
    parallelism: int = 1,
    rules=(),
    cached_views=(),
    realtime_features: str = "job",
    model: str = "fraud_mlp",
    restart: dict[str, int] | None = None,
    feast: dict[str, object] | None = None,
    batching: str = "java",
    canary: dict[str, object] | None = None,
    shadow: int = 0,
    job: dict[str, object] | None = None,
) -> tuple[Path, dict[str, str]]:
    """A pipeline config on fresh topics against the session's Pulsar and the isolated Feast and Triton."""
    folder.mkdir(parents=True, exist_ok=True)
    run = uuid.uuid4().hex[:8]
    kinds = ("transactions", "dead_letter", "predictions", "alerts", "shadow_scores")
    topics = {k: full_name(f"test-inf-{k}-{run}") for k in kinds}
    table = {
        "pulsar": {"service_url": stack.pulsar_service_url, "admin_url": stack.pulsar_admin_url},
        "topics": topics,
        "model": {"name": model, "versions_refresh_s": 0.5, "canary": canary or {}, "shadow": {"version": shadow}},
        "inference_job": {
            "subscription": "test",
            "delivery": delivery,
            "checkpoint_interval_ms": 1000,
            "max_batch_size": 16,
            "max_wait_ms": 50,
            "restart_delay_ms": restart_delay_ms,
            "parallelism": parallelism,
            "realtime_features": realtime_features,
            "batching": batching,
            "feast": {"url": isolated.config.feast_url},
            "triton": {"url": isolated.config.triton_grpc_url, "retries": triton_retries, "backoff_ms": 200},
        },
    }
    table["inference_job"] |= _older_design_keys(batching, (job or {}).get("card_windows", "jvm"))
    table["inference_job"] |= (restart or {}) | (job or {})
    table["inference_job"]["feast"] |= feast or {}
    table["rules"] = [{"name": n, "min_score": s, "min_amount": a} for n, s, a in rules]
    table["inference_job"]["cached_views"] = [{"view": v, "join_key": k, "ttl_s": 600} for v, k in cached_views]
    path = folder / "pipeline.toml"
    path.write_text(tomli_w.dumps(table))
    return path, topics


def published_times(consumer: pulsar.Consumer, count: int, timeout_s: float) -> dict[str, int]:
    """Up to `count` predictions within timeout_s, each acknowledged: the publish time by event id."""
    received = receive_messages(consumer, count, timeout_s)
    return {json.loads(message.data())["event_id"]: message.publish_timestamp() for message in received}


def _older_design_keys(batching: str, card_windows: str) -> dict[str, str]:
    """What an earlier design needs beside its own keys: the JVM parse (the default) needs the java
    design's card windows, and coalesced batches (the default) the java design's scoring call."""
    keys = {} if (batching, card_windows) == ("java", "jvm") else {"parse": "python"}
    return keys | ({"batch_start": "per_flush"} if batching == "python" else {})


def start_with_rest(log: Path, *args: str) -> tuple[processes.PidRecord, JobRest]:
    """The inference job on the MiniCluster, serving its REST API on a free port."""
    rest = JobRest(free_port())
    return launcher.start_local("flink_jobs.jobs.fraud_scoring", [*args, *rest.args()], log), rest


def test_predictions_match_onnxruntime_alerts_follow_the_rules_and_bad_input_is_dead_lettered(stack, servers, tmp_path):
    isolated, _, model, realtime = servers
    pipeline, topics = write_pipeline(
        tmp_path, stack, isolated, rules=RULES, cached_views=CACHED_VIEWS, realtime_features="feast"
    )
    rng = np.random.default_rng(9)
    events = [
        event(
            i,
            int(rng.choice([1, 2, UNKNOWN_CARD])),
            int(rng.choice([7, 8])),
            float(round(rng.uniform(1, 900), 2)),
            str(rng.choice(["pos", "ecom"])),
            str(rng.choice(["DE", "BR"])),
        )
        for i in range(60)
    ]
    bad = {
        b"{not json": "malformed JSON",
        json.dumps({k: v for k, v in events[0].items() if k != "card_id"}).encode(): "missing field",
        json.dumps({**events[0], "amount": "12"}).encode(): "wrong type for amount",
        json.dumps({**events[0], "pad": "x" * 20_000}).encode(): "oversize payload",
    }
    client = pulsar_client.connect(stack.pulsar_service_url)
    consumers = {k: client.subscribe(topics[k], "test") for k in ("predictions", "alerts", "dead_letter")}
    job = launcher.start_local("flink_jobs.jobs.fraud_scoring", ["--pipeline", str(pipeline)], tmp_path / "job.log")
    try:
        producer = client.create_producer(topics["transactions"])
        for raw in [json.dumps(e).encode() for e in events] + list(bad):
            producer.send(raw)
        predictions = receive_all(consumers["predictions"], len(events), 180)
        dead_letters = receive_all(consumers["dead_letter"], len(bad), 30)
        # Waits for the alerts the rules select (their topic's first message may come seconds
        # after the predictions'), then 5 s more for any that should not be there.
        expected = scores_by_model(model, events, realtime)
        expected_alerts = {}
        for e, score in zip(events, expected, strict=True):
            fired = [name for name, min_score, min_amount in RULES if score >= min_score and e["amount"] >= min_amount]
            if fired:
                expected_alerts[e["event_id"]] = fired
        alerts = receive_all(consumers["alerts"], len(expected_alerts), 60)
        alerts += receive_all(consumers["alerts"], 10**6, 5)
    finally:
        launcher.stop_local(job)
        client.close()

    assert len(predictions) == len(events), (tmp_path / "job.log").read_text()[-3000:]
    assert len(events) + len(bad) == len(predictions) + len(dead_letters)
    assert sorted(d["reason"].split(":")[0] for d in dead_letters) == sorted(bad.values())

    by_id = {p["event_id"]: p for p in predictions}
    assert sorted(by_id) == sorted(e["event_id"] for e in events)  # each event once
    flags = [expected_features(e["card_id"], e["merchant_id"], realtime)[1] for e in events]
    served = np.array([by_id[e["event_id"]]["score"] for e in events])
    np.testing.assert_allclose(served, expected, atol=1e-5)
    assert [by_id[e["event_id"]]["features_missing"] for e in events] == flags
    assert by_id[events[0]["event_id"]]["model"] == "fraud_mlp"
    # The job runs with cached views (what the cache does is the next test's): an entity Feast
    # does not know is never served from it.
    cached = [tuple(by_id[e["event_id"]]["cached_views"]) for e in events]
    assert all("card_stats" not in c for e, c in zip(events, cached, strict=True) if e["card_id"] == UNKNOWN_CARD)

    assert {a["event_id"]: a["rules"] for a in alerts} == expected_alerts


def scores_by_model(model: Path, events: list[dict], realtime: dict[int, dict]) -> np.ndarray:
    """onnxruntime's scores of `model` for `events` with the features the `servers` fixture serves."""
    rows = []
    for e in events:
        features, _ = expected_features(e["card_id"], e["merchant_id"], realtime)
        rows.append(request_features(e["amount"], e["channel"], e["merchant_country"], e["card_country"]) | features)
    return onnx_scores(model, rows)


PROMOTE_RATE = 50  # events/s while the model is promoted and rolled back
# Seconds of load before the promotion, between the promotion's end and the rollback, and after
# the rollback's end: each step is timed from the end of the one before (a `promote` waits for
# Triton to load the version, which takes longer on a loaded machine).
PROMOTE_AFTER_S, ROLLBACK_AFTER_S, AFTER_ROLLBACK_S = 5, 5, 5


def test_every_prediction_names_the_version_that_scored_it_across_promote_and_rollback(stack, servers, tmp_path):
    """`rtai model promote` and `rollback` under load, the job running on: each prediction's
    model_version is the one Triton used for it (its score is that version's), no restart needed."""
    isolated, tmp, model, realtime = servers
    candidate = tmp / "candidate.onnx"
    write_columns_model(candidate, COLUMNS, seed=4)
    registered = cli("model", "register", "--model", str(candidate), "--name", "fraud_mlp", env=isolated.env)
    assert registered.returncode == 0, registered.stderr
    pipeline, topics = write_pipeline(tmp_path, stack, isolated, realtime_features="feast")
    rng = np.random.default_rng(5)

    def next_event(i: int) -> dict:
        card, merchant = int(rng.choice([1, 2, UNKNOWN_CARD])), int(rng.choice([7, 8]))
        return event(i, card, merchant, float(round(rng.uniform(1, 900), 2)))

    events = [next_event(0)]
    client = pulsar_client.connect(stack.pulsar_service_url)
    consumer = client.subscribe(topics["predictions"], "test")
    job = launcher.start_local("flink_jobs.jobs.fraud_scoring", ["--pipeline", str(pipeline)], tmp_path / "job.log")
    try:
        producer = client.create_producer(topics["transactions"])
        producer.send(json.dumps(events[0]).encode())
        predictions = receive_all(consumer, 1, 180)  # the job is up and scoring
        assert predictions, (tmp_path / "job.log").read_text()[-3000:]

        stopping = threading.Event()

        def publish() -> None:
            started = time.monotonic()
            while not stopping.is_set():
                time.sleep(max(0.0, started + (len(events) - 1) / PROMOTE_RATE - time.monotonic()))
                e = next_event(len(events))
                producer.send(json.dumps(e).encode())
                events.append(e)

        publisher = threading.Thread(target=publish)
        publisher.start()
        time.sleep(PROMOTE_AFTER_S)
        promoted = cli("model", "promote", "2", "--name", "fraud_mlp", env=isolated.env)
        time.sleep(ROLLBACK_AFTER_S)
        rolled_back = cli("model", "rollback", "--name", "fraud_mlp", env=isolated.env)
        time.sleep(AFTER_ROLLBACK_S)
        stopping.set()
        publisher.join()
        predictions += receive_all(consumer, len(events) - 1, 120)
    finally:
        launcher.stop_local(job)
        client.close()
        cli("model", "promote", "1", "--name", "fraud_mlp", env=isolated.env)  # the module's other tests use 1

    assert promoted.returncode == 0, promoted.stderr
    assert rolled_back.returncode == 0, rolled_back.stderr
    by_id = {p["event_id"]: p for p in predictions}
    assert len(predictions) == len(by_id) == len(events)
    versions = [by_id[e["event_id"]]["model_version"] for e in events]
    expected = {"1": scores_by_model(model, events, realtime), "2": scores_by_model(candidate, events, realtime)}
    served = np.array([by_id[e["event_id"]]["score"] for e in events])
    labelled = np.array([expected[v][i] for i, v in enumerate(versions)])
    np.testing.assert_allclose(served, labelled, atol=1e-5)  # every label names the version that scored
    first_2, last_2 = versions.index("2"), len(versions) - 1 - versions[::-1].index("2")
    assert versions[0] == versions[-1] == "1" and 0 < first_2 <= last_2 < len(versions) - 1
    assert "1" not in versions[first_2 : last_2 + 1], "one switch to 2 and one back, in the events' order"


CANARY_RATE, CANARY_CARDS = 100, 400  # events/s and cards while a canary runs
CANARY_MIN_EVENTS = 150


def write_candidate(kind: str, path: Path) -> None:
    """agreeing: the champion's weights again; constant: every score 0.5; failing: no finite
    score for an amount above SQUARE_ROOT_LIMIT (about 4 events in 9 here)."""
    if kind == "failing":
        write_square_root_model(path, COLUMNS, "amount", SQUARE_ROOT_LIMIT)
    else:
        write_columns_model(path, COLUMNS, seed=3, scale=1.0 if kind == "agreeing" else 0.0)


@pytest.mark.parametrize(
    ("kind", "decision", "reason"),
    [("agreeing", "promote", "passed"), ("constant", "rollback", "score_shift"), ("failing", "rollback", "error_rate")],
)
def test_a_canary_is_promoted_or_rolled_back_by_its_rules_and_every_event_is_scored(
    stack, servers, tmp_path, kind, decision, reason
):
    """`rtai model canary start` serves a candidate beside the champion while the job runs; half
    the cards meet it; `rtai model canary watch` judges it and acts, and the job follows."""
    isolated, tmp, model, realtime = servers
    repository = tmp / "tr" / "fraud_mlp"
    write_candidate(kind, tmp_path / "candidate.onnx")
    registered = cli(
        "model", "register", "--model", str(tmp_path / "candidate.onnx"), "--name", "fraud_mlp", env=isolated.env
    )
    assert registered.returncode == 0, registered.stderr
    candidate = max(int(p.name) for p in repository.iterdir() if p.name.isdigit())
    rules = {"candidate_version": candidate, "share": 0.5, "min_events": CANARY_MIN_EVENTS}
    rules |= {"max_error_rate": 0.05, "max_latency_p99_ms": 2000.0, "max_score_ks": 0.3}
    pipeline, topics = write_pipeline(tmp_path, stack, isolated, realtime_features="feast", canary=rules)
    champion = str(models.served(tmp / "tr", "fraud_mlp")[0])
    rng = np.random.default_rng(candidate)
    events = [
        event(i, int(rng.integers(1, CANARY_CARDS)), int(rng.choice([7, 8])), float(round(rng.uniform(1, 900), 2)))
        for i in range(CANARY_RATE * 12)
    ]
    client = pulsar_client.connect(stack.pulsar_service_url)
    consumer = client.subscribe(topics["predictions"], "test")
    job = launcher.start_local("flink_jobs.jobs.fraud_scoring", ["--pipeline", str(pipeline)], tmp_path / "job.log")
    watch = [sys.executable, "-m", "rtai", "model", "canary", "watch", "--pipeline", str(pipeline)]
    watch += ["--until-verdict", "--timeout-s", "150"]
    watch_log = tmp_path / "watch.log"
    watcher = None
    try:
        producer = client.create_producer(topics["transactions"])
        producer.send(json.dumps(events[0]).encode())
        predictions = receive_all(consumer, 1, 180)  # the job is up and scoring
        assert predictions, (tmp_path / "job.log").read_text()[-3000:]
        with watch_log.open("w") as out:
            watcher = subprocess.Popen(watch, env={**os.environ, **isolated.env}, stdout=out, stderr=subprocess.STDOUT)
        started = cli("model", "canary", "start", str(candidate), "--pipeline", str(pipeline), env=isolated.env)
        assert started.returncode == 0, started.stderr
        publishing = time.monotonic()
        for i, e in enumerate(events[1:]):
            time.sleep(max(0.0, i / CANARY_RATE - (time.monotonic() - publishing)))
            producer.send(json.dumps(e).encode())
        predictions += receive_all(consumer, len(events) - 1, 120)
        verdict_status = watcher.wait(timeout=60)
    finally:
        if watcher is not None and watcher.poll() is None:
            watcher.kill()
        launcher.stop_local(job)
        client.close()
        cli("model", "promote", champion, "--name", "fraud_mlp", env=isolated.env)  # as the module's tests expect
    assert verdict_status == 0, watch_log.read_text()[-3000:]
    verdict = json.loads(watch_log.read_text().strip().splitlines()[-1])
    assert (verdict["canary"], verdict["reason"]) == (decision, reason), verdict
    assert verdict["served"] == (candidate if decision == "promote" else int(champion))

    by_id = {p["event_id"]: p for p in predictions}
    assert len(predictions) == len(by_id) == len(events)  # every event scored once, whatever the candidate did
    routed = [by_id[e["event_id"]].get("canary") for e in events]
    assert {"champion", "candidate"} <= set(routed)
    cards = {
        r: {e["card_id"] for e, x in zip(events, routed, strict=True) if x == r} for r in ("champion", "candidate")
    }
    assert not cards["champion"] & cards["candidate"], "a card meets one version"
    expected = scores_by_model(model, events, realtime)
    for e, x, want in zip(events, routed, expected, strict=True):
        p = by_id[e["event_id"]]
        if x == "candidate" and "candidate_error" not in p:
            assert p["model_version"] == str(candidate) and p["champion_score"] == pytest.approx(want, abs=1e-5)
        elif x is not None:  # the champion's, or a candidate's event the champion scored instead
            assert p["model_version"] == champion and p["score"] == pytest.approx(want, abs=1e-5)
    errors = [by_id[e["event_id"]]["candidate_error"] for e in events if "candidate_error" in by_id[e["event_id"]]]
    if kind == "failing":
        assert any("not finite" in error for error in errors)
    else:  # only the batches between the verdict's unloading a version and the job's next reading of them
        assert all("is not at ready state" in error for error in errors), errors
    after = [by_id[e["event_id"]] for e, x in zip(events, routed, strict=True) if x is None][-20:]
    assert after and {p["model_version"] for p in after} == {str(verdict["served"])}, "the job followed the verdict"


@pytest.mark.parametrize("batching", ["python", "java"])
def test_a_shadow_version_scores_every_event_to_its_own_topic_and_never_to_the_predictions(
    stack, servers, tmp_path, batching
):
    isolated, tmp, model, realtime = servers
    shadow_model = tmp_path / "shadow.onnx"
    write_columns_model(shadow_model, COLUMNS, seed=3, scale=0.5)  # the champion's weights, halved
    registered = cli("model", "register", "--model", str(shadow_model), "--name", "fraud_mlp", env=isolated.env)
    assert registered.returncode == 0, registered.stderr
    shadow = max(int(p.name) for p in (tmp / "tr" / "fraud_mlp").iterdir() if p.name.isdigit())
    champion = str(models.served(tmp / "tr", "fraud_mlp")[0])
    pipeline, topics = write_pipeline(
        tmp_path, stack, isolated, realtime_features="feast", rules=RULES, shadow=shadow, batching=batching
    )
    rng = np.random.default_rng(shadow)
    events = [
        event(i, int(rng.choice([1, 2, UNKNOWN_CARD])), int(rng.choice([7, 8])), float(round(rng.uniform(1, 900), 2)))
        for i in range(120)
    ]
    started = cli("model", "shadow", "start", "--pipeline", str(pipeline), env=isolated.env)
    assert started.returncode == 0, started.stderr
    client = pulsar_client.connect(stack.pulsar_service_url)
    consumers = {k: client.subscribe(topics[k], "test") for k in ("predictions", "alerts", "shadow_scores")}
    job = launcher.start_local("flink_jobs.jobs.fraud_scoring", ["--pipeline", str(pipeline)], tmp_path / "job.log")
    try:
        producer = client.create_producer(topics["transactions"])
        for e in events:
            producer.send(json.dumps(e).encode())
        predictions = receive_all(consumers["predictions"], len(events), 180)
        shadow_scores = receive_all(consumers["shadow_scores"], len(events), 30)
        alerts = receive_all(consumers["alerts"], 10**6, 5)
    finally:
        launcher.stop_local(job)
        client.close()
        cli("model", "promote", champion, "--name", "fraud_mlp", env=isolated.env)  # as the module's tests expect

    assert len(predictions) == len(events), (tmp_path / "job.log").read_text()[-3000:]
    by_id = {p["event_id"]: p for p in predictions}
    expected = scores_by_model(model, events, realtime)
    assert {p["model_version"] for p in predictions} == {champion}
    np.testing.assert_allclose([by_id[e["event_id"]]["score"] for e in events], expected, atol=1e-5)
    assert {a["event_id"] for a in alerts} <= set(by_id)  # alerts from the champion's scores alone
    assert all(a["model_version"] == champion for a in alerts)

    assert len(shadow_scores) == len(events)
    shadows = {s["event_id"]: s for s in shadow_scores}
    shadow_expected = scores_by_model(shadow_model, events, realtime)
    for e, want, served in zip(events, shadow_expected, expected, strict=True):
        record = shadows[e["event_id"]]
        assert record["model_version"] == str(shadow) and record["served_version"] == champion
        assert record["score"] == pytest.approx(want, abs=1e-5)
        assert record["served_score"] == pytest.approx(served, abs=1e-5)
        assert record["agrees"] == ((want >= 0.9) == (served >= 0.9))
    assert not all(s["score_difference"] == 0 for s in shadow_scores)


@pytest.mark.parametrize(
    ("batching", "card_windows", "scoring_task"),
    [("python", "python", "shared"), ("java", "python", "shared"), ("java", "jvm", "shared"), ("java", "jvm", "own")],
)
def test_the_real_time_view_computed_in_the_job_equals_the_training_sets_and_is_scored_with(
    stack, servers, tmp_path, batching, card_windows, scoring_task
):
    """Training and serving agree: with realtime_features = "job", every event is scored with the
    card features the backfill computes for it (the rows a lag-0 training set reads), the other views
    from Feast. The first events are the history: the job never sees them, it starts each card from
    the backfill's seed, and the events after them are scored as the backfill of all of them says."""
    isolated, _, model, _ = servers
    seed = tmp_path / "card_histories.parquet"
    job = {"card_history_seed": str(seed), "card_windows": card_windows, "scoring_task": scoring_task}
    pipeline, topics = write_pipeline(tmp_path, stack, isolated, cached_views=CACHED_VIEWS, batching=batching, job=job)
    events = spaced_events(11, 80)
    training_rows = training_rows_of(events)
    _, at_the_history_end = backfill.replayed(history_of(events[:HISTORY_EVENTS]))
    history_seed.write(at_the_history_end, seed)
    events = events[HISTORY_EVENTS:]

    # Bad input among them: dead-lettered with its reason, and no card's windows count it.
    bad = {b"{not json": "malformed JSON", json.dumps({**events[0], "card_id": "1"}).encode(): "wrong type for card_id"}
    client = pulsar_client.connect(stack.pulsar_service_url)
    consumer = client.subscribe(topics["predictions"], "test")
    dead_consumer = client.subscribe(topics["dead_letter"], "test")
    job = launcher.start_local("flink_jobs.jobs.fraud_scoring", ["--pipeline", str(pipeline)], tmp_path / "job.log")
    try:
        producer = client.create_producer(topics["transactions"])
        for i, e in enumerate(events):
            producer.send(json.dumps(e).encode())
            if i in (10, 40):
                producer.send(list(bad)[i // 40])
        predictions = {p["event_id"]: p for p in receive_all(consumer, len(events), 180)}
        dead_letters = receive_all(dead_consumer, len(bad), 30)
    finally:
        launcher.stop_local(job)
        client.close()

    assert len(predictions) == len(events), (tmp_path / "job.log").read_text()[-3000:]
    assert sorted(d["reason"].split(":")[0] for d in dead_letters) == sorted(bad.values())
    rows = model_rows(events, training_rows)
    flags = [e["card_id"] == UNKNOWN_CARD or e["merchant_id"] != 7 for e in events]
    assert max(training_rows[e["event_id"]]["txn_count_1h"] for e in events) > 1  # the windows hold several
    assert all(training_rows[e["event_id"]]["seconds_since_prev_txn"] > 0 for e in events[:3])  # seeded cards
    expected = onnx_scores(model, rows)
    served = np.array([predictions[e["event_id"]]["score"] for e in events])
    np.testing.assert_allclose(served, expected, atol=1e-5)
    assert [predictions[e["event_id"]][MISSING_FLAG] for e in events] == flags


@pytest.mark.parametrize("old_design", ["python batching", "card windows in python"])
def test_a_savepoint_of_an_earlier_design_resumes_in_the_default_one_with_every_cards_history(
    stack, servers, tmp_path, old_design
):
    """A checkpoint of the python batching design (the job before the java design), upgraded by
    `rtai job upgrade-card-state`, or of the java design with its card windows in Python (the same
    state, no upgrade), restores into the default design (card windows in the JVM): the source
    goes on after the events the old job scored (none again) and every card from the history the
    old job built, so the later events are scored as the backfill of all of them says."""
    isolated, _, model, _ = servers
    events = spaced_events(12 if old_design == "python batching" else 14, 60)
    training_rows = training_rows_of(events)
    batching, windows = ("python", "python") if old_design == "python batching" else ("java", "python")
    old, _ = write_pipeline(
        tmp_path / "old", stack, isolated, cached_views=CACHED_VIEWS, batching=batching, job={"card_windows": windows}
    )
    table = tomllib.loads(old.read_text())
    table["inference_job"] |= {"batching": "java", "card_windows": "jvm"}
    for key in _older_design_keys(batching, windows):  # the default design's own
        del table["inference_job"][key]
    new = tmp_path / "new.toml"
    new.write_text(tomli_w.dumps(table))
    topics = table["topics"]
    checkpoints = tmp_path / "checkpoints"
    upgraded = tmp_path / "upgraded"
    client = pulsar_client.connect(stack.pulsar_service_url)
    consumer = client.subscribe(topics["predictions"], "test")
    producer = client.create_producer(topics["transactions"])
    first, rest = start_with_rest(tmp_path / "old.log", "--pipeline", str(old), "--checkpoint-dir", str(checkpoints))
    second = None
    try:
        for e in events[:30]:
            producer.send(json.dumps(e).encode())
        before = receive_all(consumer, 30, 180)
        assert len(before) == 30, (tmp_path / "old.log").read_text()[-3000:]
        # Every batch is out: a checkpoint from now on holds no event under way.
        checkpoint = checkpoint_after(rest, time.time(), 60)
        crash(first)
        saved = retained_after_crash(checkpoint)
        if old_design == "python batching":
            result = cli("job", "upgrade-card-state", saved, str(upgraded))
            assert result.returncode == 0, result.stderr
            saved = str(upgraded)
        resume = ["--pipeline", str(new), "--from-savepoint", saved]
        second = launcher.start_local("flink_jobs.jobs.fraud_scoring", resume, tmp_path / "new.log")
        for e in events[30:]:
            producer.send(json.dumps(e).encode())
        after = receive_all(consumer, 30, 180)
        assert not receive_all(consumer, 1, 5), "an event was scored twice"
    finally:
        launcher.stop_local(first)
        if second is not None:
            launcher.stop_local(second)
        client.close()

    scored = {p["event_id"]: p["score"] for p in after}
    assert sorted(scored) == sorted(e["event_id"] for e in events[30:]), (tmp_path / "new.log").read_text()[-3000:]
    rows = model_rows(events[30:], training_rows)
    assert all(training_rows[e["event_id"]]["txn_count_1h"] > 1 for e in events[30:33])  # histories carried over
    np.testing.assert_allclose([scored[e["event_id"]] for e in events[30:]], onnx_scores(model, rows), atol=1e-5)


def test_the_card_state_upgrade_refuses_a_savepoint_holding_events_under_way(stack, servers, tmp_path):
    """Events the python design had read and not yet scored (a batch waiting to fill) are in its
    scoring operator's state only: an upgrade that dropped them would lose them, so it refuses."""
    isolated, _, _, _ = servers
    job = {"max_batch_size": 1000, "max_wait_ms": 600_000}
    pipeline, topics = write_pipeline(tmp_path, stack, isolated, batching="python", job=job)
    client = pulsar_client.connect(stack.pulsar_service_url)
    producer = client.create_producer(topics["transactions"])
    old, rest = start_with_rest(tmp_path / "old.log", "--pipeline", str(pipeline), "--checkpoint-dir", str(tmp_path))
    try:
        subscription_stats.wait_until_consuming(
            stack.pulsar_admin_url, topics["transactions"], {"test"}, {"the job": old}, 120
        )
        for i in range(5):
            producer.send(json.dumps(event(i, 1, 7, 10.0)).encode())
        checkpoint = checkpoint_after(rest, time.time() + 2, 60)
    finally:
        crash(old)
        client.close()
    result = cli("job", "upgrade-card-state", retained_after_crash(checkpoint), str(tmp_path / "new"))
    assert result.returncode == 2, result.stderr
    assert "enrich-and-score still holds 5 entries of waiting" in result.stderr, result.stderr
    assert not (tmp_path / "new").exists()


# Flink waits this long before it restarts a failed job: time enough to bring Triton back, so
# the outage below should cost exactly one restart.
OUTAGE_RESTART_DELAY_S = 20


def test_triton_down_mid_stream_the_job_restarts_from_its_checkpoint_and_exactly_once_holds(stack, servers, tmp_path):
    isolated, _, _, _ = servers
    pipeline, topics = write_pipeline(
        tmp_path,
        stack,
        isolated,
        delivery="exactly-once",
        triton_retries=2,
        restart_delay_ms=OUTAGE_RESTART_DELAY_S * 1000,
    )
    events = [event(i, 1 + i % 2, 7, 10.0 + i) for i in range(100)]
    client = pulsar_client.connect(stack.pulsar_service_url)
    predictions_consumer = client.subscribe(topics["predictions"], "test")
    job, rest = start_with_rest(tmp_path / "job.log", "--pipeline", str(pipeline))
    try:
        producer = client.create_producer(topics["transactions"])
        for e in events[:50]:
            producer.send(json.dumps(e).encode())
        before = receive_all(predictions_consumer, 50, 120)
        assert len(before) == 50, (tmp_path / "job.log").read_text()[-3000:]
        restarts_before = rest.num_restarts()
        stop_service(isolated, "triton")
        for e in events[50:]:
            producer.send(json.dumps(e).encode())
        # The next batch fails past its Triton retries: Flink counts a restart and waits its delay.
        rest.wait_for_restarts(restarts_before + 1, 60)
        failed_at = time.monotonic()
        start_service(isolated, "triton")
        back_after_s = time.monotonic() - failed_at
        after = receive_all(predictions_consumer, 50, 180)
        late = receive_all(predictions_consumer, 10**6, 5)  # anything more would be a duplicate
        restarts_after, state = rest.num_restarts(), rest.state()
    finally:
        launcher.stop_local(job)
        client.close()

    log = (tmp_path / "job.log").read_text()
    ids = [p["event_id"] for p in before + after + late]
    assert sorted(ids) == sorted(e["event_id"] for e in events), log[-3000:]
    assert len(ids) == len(set(ids)) == 100
    assert restarts_before == 0
    # Triton was serving again before the restart ran, so the restarted job connected at once: one
    # failure, one restart, and the job runs on.
    assert back_after_s < OUTAGE_RESTART_DELAY_S, f"Triton took {back_after_s:.1f} s to come back"
    assert (restarts_after, state) == (1, "RUNNING")


def test_at_parallelism_two_both_real_time_subtasks_receive_records(stack, servers, tmp_path, record_property):
    isolated, _, _, _ = servers
    pipeline, topics = write_pipeline(tmp_path, stack, isolated, parallelism=2)
    rng = np.random.default_rng(5)
    events = [event(i, int(card), 7, 25.0) for i, card in enumerate(rng.integers(1, 100_000, 400))]
    client = pulsar_client.connect(stack.pulsar_service_url)
    consumer = client.subscribe(topics["predictions"], "test")
    job, rest = start_with_rest(tmp_path / "job.log", "--pipeline", str(pipeline))
    try:
        producer = client.create_producer(topics["transactions"])
        for e in events:
            producer.send(json.dumps(e).encode())
        predictions = receive_all(consumer, len(events), 180)
        deadline = time.monotonic() + 30
        # Each subtask gets the records of its key groups (events, or batches of them with java
        # batching); 400 random cards hit both halves of them.
        while min(per_subtask := rest.subtask_metric("card-realtime-features", "numRecordsIn")) == 0:
            assert time.monotonic() < deadline, per_subtask
            time.sleep(0.2)
    finally:
        launcher.stop_local(job)
        client.close()

    assert len(predictions) == len(events), (tmp_path / "job.log").read_text()[-3000:]
    record_property("records_per_real_time_subtask", per_subtask)
    assert len(per_subtask) == 2 and min(per_subtask) > 0, per_subtask


def test_the_sources_pending_records_is_the_subscriptions_backlog(stack, servers, tmp_path, record_property):
    """The source's pendingRecords (the name Flink's autoscaler reads) follows the subscription's
    backlog as the broker counts it, while a backlog drains, and is 0 once it has."""
    isolated, _, _, _ = servers
    pipeline, topics = write_pipeline(tmp_path, stack, isolated)
    count = 40_000  # a drain of 10 s or more even at the design's best rate: the REST metrics refresh every 10 s
    client = pulsar_client.connect(stack.pulsar_service_url)
    client.subscribe(topics["transactions"], "counted").close()
    producer = pulsar_client.input_producer(client, topics["transactions"], block_if_queue_full=True)
    for i in range(count):
        producer.send_async(json.dumps(event(i, 1 + i % 500, 7, 25.0)).encode(), None)
    producer.flush()
    # The job has not subscribed yet: the broker counts no backlog for it. The input is batched,
    # so Pulsar's own msgBacklog counts far fewer entries than messages; the backlog is messages.
    assert subscription_stats.backlog(stack.pulsar_admin_url, topics["transactions"], "test") == 0
    counted = subscription_stats.backlog(stack.pulsar_admin_url, topics["transactions"], "counted")
    entries = subscription_stats.entries_in_backlog(stack.pulsar_admin_url, topics["transactions"], "counted")
    record_property("backlog_messages_and_entries", (counted, entries))
    assert counted == count and entries < count / 4, (counted, entries)
    consumer = client.subscribe(topics["predictions"], "test")
    job, rest = start_with_rest(tmp_path / "job.log", "--pipeline", str(pipeline))
    samples: list[tuple[int, int]] = []  # (pendingRecords, the broker's backlog)
    draining = threading.Event()

    def sample() -> None:
        while not draining.is_set():
            with contextlib.suppress(httpx.HTTPError, AssertionError):
                pending = rest.operator_metric_total("pendingRecords")
                broker = subscription_stats.backlog(stack.pulsar_admin_url, topics["transactions"], "test")
                samples.append((pending, broker))
            time.sleep(1)

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        sampler.start()
        predictions = receive_all(consumer, count, 300)
        draining.set()
        sampler.join()
        deadline = time.monotonic() + 30
        while (after := rest.operator_metric_total("pendingRecords")) != 0:
            assert time.monotonic() < deadline, f"pendingRecords still {after} 30 s after the backlog drained"
            time.sleep(1)
    finally:
        draining.set()
        launcher.stop_local(job)
        client.close()

    assert len(predictions) == count
    record_property("pending_records_vs_broker_backlog", samples[:: max(1, len(samples) // 8)])
    assert any(pending > 0 for pending, _ in samples), samples
    assert all(pending <= count for pending, _ in samples), samples
    # Counted in messages, not batches: the job subscribes with all of them waiting.
    assert max(pending for pending, _ in samples) >= count / 10, samples
    # Read at the same moment, the gauge is at most one refresh (5 s) plus the metric fetch behind.
    assert any(pending > 0 and abs(pending - broker) <= 0.5 * count for pending, broker in samples), samples


def test_cached_views_serve_the_same_features_as_feast_and_count_their_hits(servers):
    isolated, _, _, _ = servers
    feast = FeastClient(isolated.config.feast_url, timeout_s=10, retries=0, backoff_ms=1)
    views = [CachedView(view, key, ttl_s=600) for view, key in CACHED_VIEWS]
    direct, cached = Enricher(feast, "fraud_scoring_v1"), Enricher(feast, "fraud_scoring_v1", views)
    batches = [[(1, 7), (2, 8), (1, 8)], [(1, 7), (UNKNOWN_CARD, 7), (2, 7)], [(2, 8), (UNKNOWN_CARD, 8)]]
    served = []
    try:
        for pairs in batches:
            events = [parse(json.dumps(event(i, card, merchant, 20.0))) for i, (card, merchant) in enumerate(pairs)]
            served.append(cached.enrich(events))
            assert [replace(row, cached_views=()) for row in served[-1]] == direct.enrich(events)
    finally:
        feast.close()
    stats = cached.cache_stats()
    # The first batch fills the caches with what Feast has (cards 1, 2; merchant 7); then each batch
    # looks up its distinct keys once: an entity Feast does not know misses every time.
    assert (stats["card_stats"].hits, stats["card_stats"].misses, len(stats["card_stats"])) == (3, 2, 2)
    assert (stats["merchant_stats"].hits, stats["merchant_stats"].misses, len(stats["merchant_stats"])) == (1, 1, 1)
    both = ("card_stats", "merchant_stats")
    assert [row.cached_views for row in served[1]] == [both, ("merchant_stats",), both]
    # Every pair of the last batch misses a view: one request for all views instead of a second one.
    assert [row.cached_views for row in served[2]] == [(), ()]


def test_preloaded_views_serve_a_batch_from_memory_without_a_feast_request(servers):
    isolated, _, _, _ = servers
    feast = FeastClient(isolated.config.feast_url, timeout_s=10, retries=0, backoff_ms=1)
    # The preloaded Enricher's own Feast is a closed port: a request through it would fail.
    unreachable = FeastClient(f"http://127.0.0.1:{free_port()}", timeout_s=1, retries=0, backoff_ms=1)
    views = [CachedView(view, key, ttl_s=600) for view, key in CACHED_VIEWS]
    direct = Enricher(feast, "fraud_scoring_v1")
    # As the scoring API has it: the real-time view computed, the batch views cached.
    preloaded = Enricher(unreachable, "fraud_scoring_v1", views, computed_view="card_realtime")
    events = [parse(json.dumps(event(i, card, 7, 20.0))) for i, card in enumerate([1, 2, 1])]
    computed = [{name: float(10 * i + k) for k, name in enumerate(FEATURE_NAMES)} for i in range(len(events))]
    try:
        # What Feast has complete is held; the card it does not know is left to a miss.
        assert preloaded.preload("card_stats", [1, 2, UNKNOWN_CARD], feast) == 2
        assert preloaded.preload("merchant_stats", [7, 8], feast) == 1
        lookup = preloaded.look_up(events, computed)
        assert not lookup.needs_feast
        served = preloaded.complete(lookup)
        for row, feast_row, features in zip(served, direct.enrich(events), computed, strict=True):
            assert row.features == feast_row.features | features
            assert row.cached_views == ("card_stats", "merchant_stats")
        unknown = [parse(json.dumps(event(9, UNKNOWN_CARD, 7, 20.0)))]
        assert preloaded.look_up(unknown, computed[:1]).needs_feast
    finally:
        feast.close()
        unreachable.close()
    stats = preloaded.cache_stats()
    # Loading is neither a hit nor a miss: the two lookups above count.
    assert (stats["card_stats"].hits, stats["card_stats"].misses, len(stats["card_stats"])) == (2, 1, 2)
    assert (stats["merchant_stats"].hits, stats["merchant_stats"].misses) == (2, 0)


def test_a_computed_view_replaces_feasts_values_and_must_match_the_views_features(servers):
    isolated, _, _, _ = servers
    feast = FeastClient(isolated.config.feast_url, timeout_s=10, retries=0, backoff_ms=1)
    direct = Enricher(feast, "fraud_scoring_v1")
    computed_view = Enricher(feast, "fraud_scoring_v1", computed_view="card_realtime")
    wrong = Enricher(feast, "fraud_scoring_v1", computed_view="card_realtime")
    events = [parse(json.dumps(event(i, card, 7, 20.0))) for i, card in enumerate([1, 2, 1])]
    computed = [{name: float(10 * i + k) for k, name in enumerate(FEATURE_NAMES)} for i in range(len(events))]
    try:
        for _ in range(2):  # the first batch learns the layout, the next ones fetch only the other views
            from_feast = direct.enrich(events)
            served = computed_view.enrich(events, computed)
            for row, feast_row, features in zip(served, from_feast, computed, strict=True):
                assert row.features == feast_row.features | features
        with pytest.raises(ValueError, match=r"features\.realtime_view: the job computes"):
            wrong.enrich(events, [{"txn_count_1m": 1.0}] * len(events))
    finally:
        feast.close()


def prediction_ids(consumer, expected: int, timeout_s: float) -> list[str]:
    """Event ids of the predictions until `expected` arrived, then a quiet 5 s for any duplicates."""
    received = receive_all(consumer, expected, timeout_s) + receive_all(consumer, 10**6, 5)
    return [p["event_id"] for p in received]


# The kill test publishes at a steady rate across the crash. At-least-once replays what came after
# the restored checkpoint's source position, so its duplicates are the events published between
# (that checkpoint's trigger - SOURCE_LAG_S) and the crash: about a checkpoint interval's worth
# plus the checkpoint's own duration at this rate. SOURCE_LAG_S bounds how long after its publish
# the job has read an event at this rate (fetches every 100 ms, batches of at most 50 ms).
KILL_TEST_RATE = 50
SOURCE_LAG_S = 1.0


def publish_paced(producer, events: list[dict], rate: float, published: list[float]) -> None:
    """Sends `events` at `rate` a second, appending each one's send time (epoch s) to `published`.
    Sends are asynchronous, so a slow acknowledgement does not slow the rate down."""
    failed = []
    start = time.monotonic()
    for i, e in enumerate(events):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        published.append(time.time())
        producer.send_async(
            json.dumps(e).encode(), lambda result, _id: failed.append(result) if result != pulsar.Result.Ok else None
        )
    producer.flush()
    assert failed == [], failed


def checkpoint_after(rest: JobRest, moment: float, timeout_s: float) -> dict:
    """The newest completed checkpoint once one was triggered after `moment` (epoch s)."""
    deadline = time.monotonic() + timeout_s
    while True:
        latest = rest.latest_completed_checkpoint()
        if latest is not None and latest["trigger_timestamp"] / 1000 > moment:
            return latest
        assert time.monotonic() < deadline, f"no checkpoint triggered after {moment} within {timeout_s} s"
        time.sleep(0.1)


def retained_after_crash(checkpoint: dict) -> str:
    """The killed job's newest complete checkpoint: the one its REST API named, or a later one that
    completed before the kill and subsumed it (Flink then deletes the named one, _metadata first)."""
    job_checkpoints = Path(checkpoint["external_path"].removeprefix("file:")).parent
    newest = flink_job_record.newest_complete_checkpoint(job_checkpoints)
    assert newest is not None, f"no complete checkpoint under {job_checkpoints}"
    return str(newest)


@pytest.mark.parametrize("delivery", ["exactly-once", "at-least-once"])
def test_a_killed_job_resumes_from_its_checkpoint_and_no_event_is_lost(
    stack, servers, tmp_path, delivery, record_property
):
    isolated, _, _, _ = servers
    pipeline, topics = write_pipeline(tmp_path, stack, isolated, delivery=delivery)
    events = [event(i, 1 + i % 2, 7, 10.0 + i) for i in range(300)]
    args = ["--pipeline", str(pipeline), "--checkpoint-dir", str(tmp_path / "checkpoints")]
    client = pulsar_client.connect(stack.pulsar_service_url)
    consumer = client.subscribe(topics["predictions"], "test")
    producer = client.create_producer(topics["transactions"])
    first, rest = start_with_rest(tmp_path / "first.log", *args)
    second, published = None, []
    try:
        publish_paced(producer, events[:10], KILL_TEST_RATE, published)
        before = receive_all(consumer, 10, 120)  # the job is up and scoring
        assert len(before) == 10, (tmp_path / "first.log").read_text()[-3000:]
        pacer = threading.Thread(target=publish_paced, args=(producer, events[10:], KILL_TEST_RATE, published))
        paced_from = time.time()
        pacer.start()
        # Mid-stream: a checkpoint taken a second into the paced stream, then the crash at once.
        checkpoint = checkpoint_after(rest, paced_from + 1.0, 60)
        crash(first)
        crashed_at = time.time()
        pacer.join()
        # With exactly-once, the transaction the killed job left open holds the topic back until
        # the broker aborts it (transaction_timeout_ms, 60 s): the wait below covers that.
        resume = [*args, "--from-savepoint", "latest"]
        second = launcher.start_local("flink_jobs.jobs.fraud_scoring", resume, tmp_path / "second.log")
        ids = [p["event_id"] for p in before] + prediction_ids(consumer, len(events) - len(before), 240)
    finally:
        launcher.stop_local(first)
        if second is not None:
            launcher.stop_local(second)
        client.close()

    assert set(ids) == {e["event_id"] for e in events}, (tmp_path / "second.log").read_text()[-3000:]
    duplicates = len(ids) - len(set(ids))
    since = checkpoint["trigger_timestamp"] / 1000 - SOURCE_LAG_S
    bound = sum(1 for moment in published if since <= moment <= crashed_at)
    record_property(
        "duplicate_predictions", f"{duplicates} of {len(events)} events ({delivery}; bound {bound} at this rate)"
    )
    assert crashed_at < published[-1], "the crash came after the last event: nothing was mid-stream"
    if delivery == "exactly-once":
        assert duplicates == 0
    else:
        assert duplicates <= bound


def test_on_the_flink_cluster_the_job_gives_the_local_predictions_and_resumes_from_a_savepoint(
    stack, servers, tmp_path
):
    isolated, _, _, _ = servers
    rng = np.random.default_rng(11)
    events = [
        event(i, int(rng.choice([1, 2, UNKNOWN_CARD])), int(rng.choice([7, 8])), float(round(rng.uniform(1, 900), 2)))
        for i in range(80)
    ]
    client = pulsar_client.connect(stack.pulsar_service_url)

    def publish(topic: str, batch: list[dict]) -> None:
        producer = client.create_producer(topic)
        for e in batch:
            producer.send(json.dumps(e).encode())
        producer.close()

    local_pipeline, local_topics = write_pipeline(tmp_path / "local", stack, isolated, cached_views=CACHED_VIEWS)
    local_consumer = client.subscribe(local_topics["predictions"], "test")
    job = launcher.start_local("flink_jobs.jobs.fraud_scoring", ["--pipeline", str(local_pipeline)], tmp_path / "l.log")
    try:
        publish(local_topics["transactions"], events)
        local = receive_all(local_consumer, len(events), 180)
    finally:
        launcher.stop_local(job)
    assert len(local) == len(events), (tmp_path / "l.log").read_text()[-3000:]

    pipeline, topics = write_pipeline(tmp_path / "cluster", stack, isolated, cached_views=CACHED_VIEWS)
    consumer = client.subscribe(topics["predictions"], "test")
    up = cli("stack", "up", "flink-jobmanager", "flink-taskmanager", env=isolated.env)
    assert up.returncode == 0, up.stderr
    try:
        first = job_cli("submit", "inference", "--pipeline", str(pipeline), env=isolated.env).split()[3]
        publish(topics["transactions"], events[:40])
        before = receive_all(consumer, 40, 180)
        assert len(before) == 40, cli("stack", "logs", "flink-taskmanager", "-n", "60", env=isolated.env).stdout
        savepoint = job_cli("stop", first, env=isolated.env).strip()
        assert first not in job_cli("list", env=isolated.env)
        publish(topics["transactions"], events[40:])
        resume = ["--pipeline", str(pipeline), "--from-savepoint", savepoint]
        second = job_cli("submit", "inference", *resume, env=isolated.env).split()[3]
        after = receive_all(consumer, 40, 180) + receive_all(consumer, 10**6, 5)
        assert second in job_cli("list", env=isolated.env)
        # A clean down ends the cluster: the job stopped with a savepoint, and nothing at the next up.
        down = cli("stack", "down", "flink-taskmanager", "flink-jobmanager", env=isolated.env)
        assert down.returncode == 0, down.stderr
        assert f"stopped job 'fraud scoring' ({second}) with a savepoint: file:" in down.stderr, down.stderr
        up = cli("stack", "up", "flink-jobmanager", "flink-taskmanager", env=isolated.env)
        assert up.returncode == 0, up.stderr
        assert second not in up.stderr and "NOT RECOVERED" not in up.stderr, up.stderr
        listed = job_cli("list", env=isolated.env)
        assert second not in listed and "NOT RECOVERED" not in listed, listed
    finally:
        cli("stack", "down", "flink-taskmanager", "flink-jobmanager", env=isolated.env)
        client.close()

    on_cluster = {p["event_id"]: p for p in before + after}
    assert len(before) + len(after) == len(on_cluster) == len(events)  # stop-with-savepoint: no duplicate
    for prediction in local:
        served = on_cluster[prediction["event_id"]]
        assert served["score"] == pytest.approx(prediction["score"], abs=1e-6)
        assert (served["label"], served[MISSING_FLAG], served["feature_timestamps"]) == (
            prediction["label"],
            prediction[MISSING_FLAG],
            prediction["feature_timestamps"],
        )


def job_cli(*args: str, env: dict[str, str]) -> str:
    """`rtai job ARGS`; its output (the test fails with the command's error otherwise)."""
    result = cli("job", *args, env=env)
    assert result.returncode == 0, f"rtai job {' '.join(args)}:\n{result.stderr}"
    return result.stdout


def test_a_score_that_is_not_a_number_is_a_dead_letter_and_the_job_goes_on(stack, servers, tmp_path):
    isolated, _, _, _ = servers
    pipeline, topics = write_pipeline(tmp_path, stack, isolated, model="fraud_sqrt")
    events = [event(i, 1 + i % 2, 7, 100.0 if i % 3 else 900.0) for i in range(30)]
    not_a_number = {e["event_id"] for e in events if e["amount"] > SQUARE_ROOT_LIMIT}
    client = pulsar_client.connect(stack.pulsar_service_url)
    consumers = {k: client.subscribe(topics[k], "test") for k in ("predictions", "dead_letter")}
    job, rest = start_with_rest(tmp_path / "job.log", "--pipeline", str(pipeline))
    try:
        producer = client.create_producer(topics["transactions"])
        for e in events:
            producer.send(json.dumps(e).encode())
        predictions = receive_all(consumers["predictions"], len(events) - len(not_a_number), 180)
        dead_letters = receive_all(consumers["dead_letter"], len(not_a_number), 30)
        late = receive_all(consumers["predictions"], 10**6, 3)
        restarts = rest.num_restarts()
    finally:
        launcher.stop_local(job)
        client.close()

    assert len(predictions) == len(events) - len(not_a_number), (tmp_path / "job.log").read_text()[-3000:]
    assert late == []
    assert {p["event_id"] for p in predictions} == {e["event_id"] for e in events} - not_a_number
    assert all(p["score"] == pytest.approx(20.0) for p in predictions)  # sqrt(500 - 100)
    assert {parse(d["payload"]).event_id for d in dead_letters} == not_a_number
    assert {d["reason"] for d in dead_letters} == {"model output not finite: nan (fraud_sqrt version 1)"}
    assert restarts == 0


@pytest.mark.parametrize("flush_when_idle", [True, False])
def test_a_batch_goes_out_when_the_input_is_idle_not_after_its_window(stack, servers, tmp_path, flush_when_idle):
    """Events a second apart, a batch window (max_wait_ms) of 3 s: with flush_when_idle each
    event leaves the JVM's batcher as soon as the source has nothing more to read; without, the
    first of a batch waits the window. Read from the prediction's publish time against the send
    time (the JVM parse stamps received_at_ms before the batcher). No checkpoint in the test's
    time (the first 120 s after the start): the batcher also flushes before each barrier."""
    isolated, _, _, _ = servers
    window = {"max_wait_ms": 3000, "flush_when_idle": flush_when_idle}
    window |= {"checkpoint_interval_ms": 120_000, "transaction_timeout_ms": 300_000}
    pipeline, topics = write_pipeline(tmp_path, stack, isolated, job=window)
    events = [event(i, 1 + i, 7, 50.0) for i in range(4)]
    client = pulsar_client.connect(stack.pulsar_service_url)
    consumer = client.subscribe(topics["predictions"], "test")
    job, _ = start_with_rest(tmp_path / "job.log", "--pipeline", str(pipeline))
    sent_ms = {}
    try:
        producer = client.create_producer(topics["transactions"])
        producer.send(json.dumps(event(99, 99, 7, 50.0)).encode())  # the job is up once this is scored
        assert len(receive_all(consumer, 1, 180)) == 1, (tmp_path / "job.log").read_text()[-3000:]
        for e in events:
            sent_ms[e["event_id"]] = time.time() * 1000
            producer.send(json.dumps(e).encode())
            time.sleep(1.0)
        published_ms = published_times(consumer, len(events), 60)
    finally:
        launcher.stop_local(job)
        client.close()

    assert set(published_ms) == set(sent_ms)
    waits = [published_ms[event_id] - sent_ms[event_id] for event_id in sent_ms]
    if flush_when_idle:
        assert max(waits) < 500, waits
    else:
        assert max(waits) >= 2500, waits


@pytest.mark.parametrize("batch_start", ["held", "coalesced"])
def test_a_scored_batch_leaves_without_waiting_for_a_barrier_or_the_next_flush(stack, servers, tmp_path, batch_start):
    """Events a second apart, no checkpoint in the test's time: each one's prediction is out
    within a fraction of a second, so a scored batch's outputs are taken when it is done (held:
    the JVM's gate asks every poll_ms; coalesced: the merger drains after drain_after_ms), not
    at the next barrier or flush. Then a burst of 2,000 events: each scored once."""
    isolated, _, _, _ = servers
    job = {"batch_start": batch_start, "batches_in_flight": 1, "max_batch_size": 256}
    job |= {"checkpoint_interval_ms": 120_000, "transaction_timeout_ms": 300_000}
    pipeline, topics = write_pipeline(tmp_path, stack, isolated, job=job)
    client = pulsar_client.connect(stack.pulsar_service_url)
    consumer = client.subscribe(topics["predictions"], "test")
    job_record, _ = start_with_rest(tmp_path / "job.log", "--pipeline", str(pipeline))
    sent_ms, published_ms = {}, {}
    burst = [event(100 + i, 1 + i % 300, 7, 20.0) for i in range(2000)]
    try:
        producer = client.create_producer(topics["transactions"])
        producer.send(json.dumps(event(99, 99, 7, 50.0)).encode())  # the job is up once this is scored
        assert len(receive_all(consumer, 1, 180)) == 1, (tmp_path / "job.log").read_text()[-3000:]
        for i in range(4):
            alone = event(i, 1 + i, 7, 50.0)
            sent_ms[alone["event_id"]] = time.time() * 1000
            producer.send(json.dumps(alone).encode())
            published_ms |= published_times(consumer, 1, 10)
            time.sleep(1.0)
        bursts = client.create_producer(topics["transactions"], block_if_queue_full=True)
        failed = []
        for e in burst:
            bursts.send_async(
                json.dumps(e).encode(), lambda result, _: failed.append(result) if result != pulsar.Result.Ok else None
            )
        bursts.flush()
        assert failed == []
        scored = receive_all(consumer, len(burst), 120)
        scored += receive_all(consumer, 1, 5)  # any duplicate
    finally:
        launcher.stop_local(job_record)
        client.close()

    waits = [published_ms[k] - sent_ms[k] for k in sent_ms]
    assert max(waits) < 500, waits
    ids = [p["event_id"] for p in scored]
    assert sorted(ids) == sorted(e["event_id"] for e in burst)


def test_a_job_failing_faster_than_its_restart_rate_exits_with_status_1_and_says_why(stack, servers, tmp_path):
    """Triton unreachable: every start fails at open; past one failure a minute Flink gives up,
    and the process ends on its own with one line naming the strategy and the root cause."""
    isolated, _, _, _ = servers
    restart = {"restart_max_failures": 1, "restart_failure_interval_ms": 60_000, "restart_delay_ms": 500}
    pipeline, _ = write_pipeline(tmp_path, stack, isolated, triton_retries=0, restart=restart)
    unreachable = f"127.0.0.1:{free_port()}"
    pipeline.write_text(pipeline.read_text().replace(isolated.config.triton_grpc_url, unreachable))
    job = launcher.start_local("flink_jobs.jobs.fraud_scoring", ["--pipeline", str(pipeline)], tmp_path / "job.log")
    deadline = time.monotonic() + 180
    while (code := processes.exit_code(job)) is None and time.monotonic() < deadline:
        time.sleep(0.5)
    if code is None:
        launcher.stop_local(job)
    log = (tmp_path / "job.log").read_text()
    assert code == 1, log[-3000:]
    verdict = [line for line in log.splitlines() if "failed for good" in line]
    assert len(verdict) == 1, log[-3000:]
    assert "Recovery is suppressed by FailureRateRestartBackoffTimeStrategy" in verdict[0]
    assert "maxFailuresPerInterval=1" in verdict[0]
    assert "root cause:" in verdict[0]


def test_feast_down_the_job_serves_defaults_without_restarting_and_reads_feast_again_once_back(
    stack, servers, tmp_path
):
    isolated, _, _, _ = servers
    cooldown = {"on_unavailable": "degrade", "breaker_cooldown_s": 2.0}
    pipeline, topics = write_pipeline(tmp_path, stack, isolated, feast=cooldown)
    client = pulsar_client.connect(stack.pulsar_service_url)
    predictions_in = client.subscribe(topics["predictions"], "test")
    job, rest = start_with_rest(tmp_path / "job.log", "--pipeline", str(pipeline))
    producer = client.create_producer(topics["transactions"])
    phases = {}
    try:
        for phase in ("up", "down", "back"):
            if phase == "down":
                stop_service(isolated, "feast")
            if phase == "back":
                start_service(isolated, "feast")
                time.sleep(cooldown["breaker_cooldown_s"] + 1)  # the breaker lets a probe through
            sent = [event(1000 * len(phases) + i, 1, 7, 20.0 + i) for i in range(20)]
            for e in sent:
                producer.send(json.dumps(e).encode())
            phases[phase] = receive_all(predictions_in, len(sent), 120)
        restarts = rest.num_restarts()
    finally:
        launcher.stop_local(job)
        client.close()

    log = (tmp_path / "job.log").read_text()[-3000:]
    assert [len(p) for p in phases.values()] == [20, 20, 20], log
    assert not any(p["features_missing"] for p in phases["up"])
    assert all(p["features_missing"] for p in phases["down"])
    assert not any(p["features_missing"] for p in phases["back"])  # the first batch's request was the probe
    assert restarts == 0
