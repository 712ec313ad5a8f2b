"""Both jobs under generated input: thousands of broken messages mixed with good transactions on
one topic, read by the inference job and the feature job at once. Every message must end as
exactly one prediction (or, in the feature job, one pushed feature row) or exactly one dead
letter, good events after the broken ones must still come out promptly, and neither job may fail
or restart (Flink's REST API: numRestarts and uptime)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pulsar
import pytest
import tomli_w

from flink_jobs.config import pipeline_config
from flink_jobs.config.topics import full_name
from flink_jobs.events import InvalidEvent, check_event_time, parse
from flink_jobs.stages.features.card_windows import FEATURE_NAMES
from flink_jobs.stages.inference.request_features import REQUEST_FEATURES
from rtai import pulsar_client
from rtai.features.batch_stats import CARD_STATS, MERCHANT_STATS
from rtai.jobs import launcher
from tests.flink_rest import JobRest, free_port
from tests.fuzz_inputs import good_event, mutated
from tests.stack_helpers import isolated_stack, served_model_toml

GOOD, BROKEN, GOOD_AFTER = 1500, 1500, 100  # GOOD_AFTER of the good ones come after the last broken one
CARD_OFFSET = 10_000_000  # cards no other test's Feast rows use
PROMPT_S = 30  # a good event after the broken ones is scored within this of its sending
COLUMNS = [*REQUEST_FEATURES, *FEATURE_NAMES, *CARD_STATS, *MERCHANT_STATS]
DEAD_LETTER_BYTES = 20 * 1024  # the payload's 16 KiB, the reason's 1,000 characters and the fields


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    with isolated_stack(tmp, ["feast", "triton"], served_model_toml(tmp, COLUMNS, seed=5)) as stack:
        yield stack


def generated_input(now: datetime) -> tuple[list[bytes], dict[int, str]]:
    """The messages in sending order, and which are good: index -> event id."""
    rng = np.random.default_rng(2026)
    total = GOOD + BROKEN
    start = now - timedelta(milliseconds=10 * total)  # event times 10 ms apart, in order, ending now
    kinds = np.array([True] * (GOOD - GOOD_AFTER) + [False] * BROKEN)
    rng.shuffle(kinds)
    kinds = np.concatenate([kinds, [True] * GOOD_AFTER])
    messages, good = [], {}
    for index, is_good in enumerate(kinds):
        event = good_event(rng, index, start + timedelta(milliseconds=10 * index), CARD_OFFSET)
        messages.append(json.dumps(event).encode() if is_good else mutated(rng, event))
    now_ms = round(now.timestamp() * 1000)
    for index, raw in enumerate(messages):
        # What the jobs see: the message as UTF-8 text (the source replaces invalid sequences).
        try:
            event = parse(raw.decode("utf-8", "replace"))
            check_event_time(event, now_ms, 60_000, 7 * 86_400_000)
        except InvalidEvent:
            continue
        good[index] = event.event_id
    return messages, good


def write_pipeline(folder, stack, servers) -> tuple:
    run = uuid.uuid4().hex[:8]
    topics = {k: full_name(f"test-fuzz-{k}-{run}") for k in ("transactions", "dead_letter", "predictions", "alerts")}
    calls = {"checkpoint_interval_ms": 1000, "feast": {"url": servers.config.feast_url}}
    table = {
        "pulsar": {"service_url": stack.pulsar_service_url, "admin_url": stack.pulsar_admin_url},
        "topics": topics,
        "feature_job": {"subscription": "fuzz-features", **calls},
        "inference_job": {"subscription": "fuzz-inference", **calls},
    }
    table["inference_job"]["triton"] = {"url": servers.config.triton_grpc_url}
    path = folder / "pipeline.toml"
    path.write_text(tomli_w.dumps(table))
    return path, topics


def watermark_passes(messages: list[bytes], good: dict[int, str], pipeline) -> float:
    """The first time (ms) an event stamped then moves the feature job's watermark past every good
    event sent (those stamped ahead of the clock count as now: the watermark never passes it)."""
    now_ms = time.time() * 1000
    latest = max(min(parse(messages[i].decode("utf-8", "replace")).event_time_ms, now_ms) for i in good)
    return latest + pipeline_config.load(pipeline).feature_job.max_out_of_orderness_ms + 1


def wait_until_ms(at_ms: float) -> None:
    time.sleep(max(0.0, at_ms / 1000 - time.time()))


def drain(consumer, until, timeout_s: float) -> list[pulsar.Message]:
    received, deadline = [], time.monotonic() + timeout_s
    while not until(received) and time.monotonic() < deadline:
        try:
            message = consumer.receive(timeout_millis=1000)
        except pulsar.Timeout:
            continue
        received.append(message)
        consumer.acknowledge(message)
    return received


def test_every_message_ends_as_one_outcome_and_neither_job_restarts(stack, servers, tmp_path):
    pipeline, topics = write_pipeline(tmp_path, stack, servers)
    rests = {"inference-job": JobRest(free_port()), "feature-job": JobRest(free_port())}
    modules = {"inference-job": "flink_jobs.jobs.fraud_scoring", "feature-job": "flink_jobs.jobs.card_features"}
    client = pulsar_client.connect(stack.pulsar_service_url)
    predictions_in = client.subscribe(topics["predictions"], "test")
    dead_letters_in = client.subscribe(topics["dead_letter"], "test")
    jobs = {
        name: launcher.start_local(module, ["--pipeline", str(pipeline), *rests[name].args()], tmp_path / f"{name}.log")
        for name, module in modules.items()
    }
    try:
        for rest in rests.values():
            wait_until_running(rest)
        seen_running = time.monotonic()
        messages, good = generated_input(datetime.now(UTC))
        producer = client.create_producer(topics["transactions"], batching_enabled=True, block_if_queue_full=True)
        sent_ms, failed = {}, []
        for index, raw in enumerate(messages):
            producer.send_async(raw, lambda result, _id: failed.append(result) if result != pulsar.Result.Ok else None)
            sent_ms[index] = time.time() * 1000
        producer.flush()
        # A last good event once the clock is past every good one's event time plus the watermark's
        # bound: the feature job's watermark (which follows event times, never past its clock)
        # then passes the events before it, so their features are computed.
        wait_until_ms(watermark_passes(messages, good, pipeline))
        tick = good_event(np.random.default_rng(0), len(messages), datetime.now(UTC), CARD_OFFSET)
        producer.send(json.dumps(tick).encode())
        sent_ms[len(messages)] = time.time() * 1000
        messages.append(json.dumps(tick).encode())
        good[len(messages) - 1] = tick["event_id"]
        broken = len(messages) - len(good)
        predictions = drain(predictions_in, lambda got: len(got) >= len(good), 240)
        dead_letters = drain(dead_letters_in, lambda got: len(got) >= 2 * broken, 120)
        extra = drain(predictions_in, lambda got: False, 3) + drain(dead_letters_in, lambda got: False, 1)
        # With batching = "python" the tick itself waits for a later event to move the watermark
        # past it; "java" (the default) has no watermark and pushes it too.
        expected_rows = len(good) - (pipeline_config.load(pipeline).feature_job.batching == "python")
        pushed_rows = wait_for_metric(rests["feature-job"], "feature_rows_pushed_total", expected_rows, 120)
        running_s = time.monotonic() - seen_running
        restarts = {name: rest.num_restarts() for name, rest in rests.items()}
        uptime_s = {name: rest.job_metric("uptime") / 1000 for name, rest in rests.items()}
    finally:
        for job in jobs.values():
            launcher.stop_local(job)
        client.close()
    logs = "\n".join((tmp_path / f"{name}.log").read_text()[-2000:] for name in modules)

    assert failed == []
    assert broken >= 1000 and len(good) >= GOOD
    assert restarts == {"inference-job": 0, "feature-job": 0}, logs
    # Uptime counts from the job's last switch to RUNNING (a restart sets it back to 0); the
    # metric may be up to a second stale.
    assert all(up >= running_s - 1 for up in uptime_s.values()), (uptime_s, running_s)
    assert extra == []

    # Inference job: each good event scored exactly once; the last ones promptly.
    scored = Counter(json.loads(m.data())["event_id"] for m in predictions)
    assert scored == Counter(good.values()), logs
    published_ms = {json.loads(m.data())["event_id"]: m.publish_timestamp() for m in predictions}
    last_good = sorted(good)[-GOOD_AFTER - 1 :]
    waits_s = [(published_ms[good[i]] - sent_ms[i]) / 1000 for i in last_good]
    assert max(waits_s) < PROMPT_S, waits_s

    # Feature job: a feature row pushed per good event.
    assert pushed_rows == expected_rows, logs

    # Both jobs: each broken message exactly one dead letter, small, with a reason; valid UTF-8
    # ones matched by their hash (the others' text was repaired by the source, so counted).
    expected_hashes = Counter(
        hashlib.sha256(raw).hexdigest() for i, raw in enumerate(messages) if i not in good and _is_utf8(raw)
    )
    for job in modules:
        letters = [m for m in dead_letters if json.loads(m.data())["job"] == job]
        assert len(letters) == broken, (job, len(letters), broken)
        records = [json.loads(m.data()) for m in letters]
        assert all(r["reason"] for r in records)
        assert max(len(m.data()) for m in letters) <= DEAD_LETTER_BYTES
        assert not expected_hashes - Counter(r["payload_sha256"] for r in records), job


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def wait_until_running(rest: JobRest, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while rest.state() != "RUNNING":
        assert time.monotonic() < deadline, f"the job at {rest.url} is not RUNNING after {timeout_s} s"
        time.sleep(0.5)


def wait_for_metric(rest: JobRest, metric: str, expected: int, timeout_s: float) -> int:
    """An operator metric over its subtasks, once it reaches `expected` or the time is up."""
    deadline = time.monotonic() + timeout_s
    while (value := rest.operator_metric_total(metric)) < expected and time.monotonic() < deadline:
        time.sleep(1)
    return value
