"""The scoring API (`rtai serve`) on real servers: the session's Pulsar, an isolated Feast and
Triton serving a model over the fraud model's inputs.

- the same transactions through the API and through the inference job: equal scores, the same
  model version, and real-time features equal to the backfill's (training and serving agree);
- Feast not answering: every answer within the deadline, by the fallback, marked;
- bad input: a 4xx naming the problem, never a 5xx;
- the secure settings: HTTPS with the stack's CA, and a Bearer token or a 401.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import tomli_w

from flink_jobs.config.topics import full_name
from flink_jobs.stages.features.card_windows import FEATURE_NAMES
from flink_jobs.stages.features.defaults import default
from rtai import pulsar_client
from rtai.features import backfill
from rtai.features.batch_stats import CARD_STATS, MERCHANT_STATS
from rtai.jobs import launcher
from rtai.security.credentials import Credentials
from tests.flink_rest import free_port
from tests.onnx_models import onnx_scores
from tests.stack_helpers import MODEL_COLUMNS, isolated_stack, receive_all, served_model_toml

DEADLINE_MS = 50.0
EQUALITY_DEADLINE_MS = 2000.0
HISTORY, SCORED = 30, 40  # transactions through the topic first, then through the API


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scoring-api")
    with isolated_stack(tmp, ["feast", "triton"], served_model_toml(tmp, MODEL_COLUMNS, seed=21)) as stack:
        yield stack, tmp


def write_pipeline(folder: Path, stack, isolated, api: dict[str, object]) -> tuple[Path, dict[str, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    run = uuid.uuid4().hex[:8]
    topics = {k: full_name(f"test-api-{k}-{run}") for k in ("transactions", "dead_letter", "predictions", "alerts")}
    table = {
        "pulsar": {"service_url": stack.pulsar_service_url, "admin_url": stack.pulsar_admin_url},
        "topics": topics,
        "inference_job": {
            "subscription": "test",
            "checkpoint_interval_ms": 1000,
            "max_wait_ms": 20,
            "feast": {"url": isolated.config.feast_url},
            "triton": {"url": isolated.config.triton_grpc_url},
        },
        "scoring_api": {"deadline_ms": DEADLINE_MS, "feast": {"url": isolated.config.feast_url}} | api,
    }
    path = folder / "pipeline.toml"
    path.write_text(tomli_w.dumps(table))
    return path, topics


@contextmanager
def running_api(pipeline: Path, isolated, log: Path, port: int, scheme: str = "http", verify=True) -> Iterator[str]:
    """`rtai serve` in a child process until its /health says ready; SIGTERM after, which it obeys."""
    command = [sys.executable, "-m", "rtai", "serve", "--pipeline", str(pipeline), "--port", str(port)]
    with log.open("w") as out:
        process = subprocess.Popen(command, env={**os.environ, **isolated.env}, stdout=out, stderr=out)
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", verify=verify, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"the API was not ready within 90 s: {log.read_text()[-3000:]}"
            time.sleep(0.3)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()[-3000:]


def transaction(index: int, card: int, moment: datetime, rng: np.random.Generator) -> dict:
    return {
        "event_id": f"api-{index}",
        "event_time": moment.isoformat(timespec="milliseconds"),
        "card_id": card,
        "customer_id": card,
        "merchant_id": int(rng.integers(1, 6)),
        "merchant_category": "electronics",
        "merchant_country": str(rng.choice(["DE", "FR"])),
        "card_country": "DE",
        "amount": float(round(rng.uniform(1, 900), 2)),
        "currency": "EUR",
        "channel": str(rng.choice(["pos", "ecom"])),
    }


def test_the_api_and_the_inference_job_give_the_same_features_and_scores(stack, servers, tmp_path):
    isolated, _ = servers
    # Equality, not latency (`rtai bench api` measures that): a deadline that a busy 2-core
    # machine, the job scoring beside the API, cannot miss, so every answer is the model's.
    pipeline, topics = write_pipeline(tmp_path, stack, isolated, {"deadline_ms": EQUALITY_DEADLINE_MS})
    rng = np.random.default_rng(3)
    moment = datetime.now(UTC) - timedelta(minutes=30)
    events = []
    for i in range(HISTORY + SCORED):
        moment += timedelta(seconds=float(rng.uniform(1, 40)))
        events.append(transaction(i, int(rng.integers(1, 6)), moment, rng))
    client = pulsar_client.connect(stack.pulsar_service_url)
    consumer = client.subscribe(topics["predictions"], "test")
    job = launcher.start_local("flink_jobs.jobs.fraud_scoring", ["--pipeline", str(pipeline)], tmp_path / "job.log")
    try:
        producer = pulsar_client.input_producer(client, topics["transactions"])
        for e in events[:HISTORY]:
            producer.send(json.dumps(e).encode(), partition_key=str(e["card_id"]))
        predictions = receive_all(consumer, HISTORY, 180)
        assert len(predictions) == HISTORY, (tmp_path / "job.log").read_text()[-3000:]
        with running_api(pipeline, isolated, tmp_path / "api.log", free_port()) as url:
            answers = [httpx.post(f"{url}/v1/score", json=e, timeout=5).json() for e in events[HISTORY:]]
        predictions += receive_all(consumer, SCORED, 120)
    finally:
        launcher.stop_local(job)
        client.close()

    by_id = {p["event_id"]: p for p in predictions}
    assert len(by_id) == HISTORY + SCORED  # the API's transactions went into the stream, each once
    for answer in answers:
        job_prediction = by_id[answer["event_id"]]
        assert answer["scoring"] == "model", answer
        assert answer["score"] == pytest.approx(job_prediction["score"], abs=1e-5)
        assert answer["model_version"] == job_prediction["model_version"]
        assert answer["took_ms"] < EQUALITY_DEADLINE_MS
    history = pd.DataFrame(
        {k: [e[k] for e in events] for k in ("event_id", "card_id", "merchant_id", "amount")}
        | {"event_timestamp": pd.to_datetime([e["event_time"] for e in events])}
    )
    backfilled = backfill.card_realtime(history)
    ordered = sorted(events, key=lambda e: (e["card_id"], e["event_time"]))
    rows = {e["event_id"]: row for e, row in zip(ordered, backfilled.to_dict("records"), strict=True)}
    for answer in answers:
        for name in FEATURE_NAMES:
            # The answer's features are the model's FP32 inputs.
            assert answer["features"][name] == pytest.approx(rows[answer["event_id"]][name], rel=1e-6), name


@contextmanager
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: a Feast gone unresponsive."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


@pytest.fixture(scope="module")
def guarded_api(stack, servers, tmp_path_factory) -> Iterator[tuple[str, str, Path]]:
    """The API over HTTPS with a token, its Feast a server that never answers."""
    isolated, tmp = servers
    folder = tmp_path_factory.mktemp("guarded-api")
    credentials = Credentials(folder / "secrets").ensure()
    token_file = folder / "api-token"
    token_file.write_text("s3cret-token\n")
    with silent_server() as feast_url:
        settings = {
            "feast": {"url": feast_url},
            "token": {"file": str(token_file)},
            "tls_cert_file": str(credentials.server_cert),
            "tls_key_file": str(credentials.server_key),
        }
        pipeline, _ = write_pipeline(folder, stack, isolated, settings)
        port = free_port()
        with running_api(pipeline, isolated, folder / "api.log", port, "https", str(credentials.ca_file)) as url:
            yield url, str(credentials.ca_file), tmp


def test_a_feast_that_does_not_answer_costs_no_answer_its_deadline(guarded_api):
    url, ca, tmp = guarded_api
    headers = {"Authorization": "Bearer s3cret-token"}
    rng = np.random.default_rng(8)
    moment = datetime.now(UTC) - timedelta(minutes=5)
    model = tmp / "model.onnx"
    with httpx.Client(verify=ca, headers=headers, timeout=5) as client:
        for i in range(20):
            event = transaction(1000 + i, 77, moment + timedelta(seconds=i), rng)
            started = time.perf_counter()
            answer = client.post(f"{url}/v1/score", json=event)
            waited_ms = (time.perf_counter() - started) * 1000
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["scoring"] == "model_without_other_views" and body["fallback"], body
            assert body["features_missing"] is True
            assert body["took_ms"] <= DEADLINE_MS and waited_ms < DEADLINE_MS + 50
            features = body["features"]
            assert all(features[n] == default(n) for n in (*CARD_STATS, *MERCHANT_STATS))  # the views it missed
            expected = onnx_scores(model, [features])
            assert body["score"] == pytest.approx(float(expected[0]), abs=1e-5)
        metrics = client.get(f"{url}/metrics").text
    assert "rtai_scoring_api_fallbacks_total" in metrics


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b"[]", "malformed event"),
        (b'{"event_id": "x"}', "missing field"),
        (json.dumps({"transactions": []}).encode(), "transactions: a list of 1 to"),
        (b"x" * (300 * 1024 * 16), "oversize request"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_problem(guarded_api, body, reason):
    url, ca, _ = guarded_api
    answer = httpx.post(
        f"{url}/v1/score", content=body, headers={"Authorization": "Bearer s3cret-token"}, verify=ca, timeout=10
    )
    assert 400 <= answer.status_code < 500
    assert answer.json()["error"].startswith(reason), answer.json()


def test_fields_out_of_range_are_422s(guarded_api):
    url, ca, _ = guarded_api
    rng = np.random.default_rng(2)
    good = transaction(5000, 9, datetime.now(UTC), rng)
    broken = [
        {**good, "amount": -3},
        {**good, "card_id": "9"},
        {**good, "event_time": (datetime.now(UTC) + timedelta(days=2)).isoformat()},
        {**good, "currency": "euro"},
        {"transactions": [good, {**good, "channel": "pigeon"}]},
    ]
    with httpx.Client(verify=ca, headers={"Authorization": "Bearer s3cret-token"}, timeout=5) as client:
        for body in broken:
            answer = client.post(f"{url}/v1/score", json=body)
            assert answer.status_code == 422, (body, answer.text)
        batch = client.post(f"{url}/v1/score", json={"transactions": [good, {**good, "event_id": "api-5001"}]})
    assert batch.status_code == 200 and len(batch.json()["answers"]) == 2


def test_without_the_token_or_tls_there_is_no_answer(guarded_api):
    url, ca, _ = guarded_api
    event = transaction(6000, 9, datetime.now(UTC), np.random.default_rng(4))
    assert httpx.post(f"{url}/v1/score", json=event, verify=ca).status_code == 401
    wrong = httpx.post(f"{url}/v1/score", json=event, verify=ca, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    with pytest.raises(httpx.HTTPError):
        httpx.post(url.replace("https", "http") + "/v1/score", json=event, timeout=3)
