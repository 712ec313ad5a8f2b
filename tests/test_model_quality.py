"""The model-quality job on the MiniCluster against the session's Pulsar: labels joined to
predictions by event id, outcomes counted per model version, and what the label window bounds:
a late label dead-lettered, a prediction no label came for and a label with no prediction
dropped after the window and counted."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import tomli_w

from flink_jobs.config.topics import full_name
from flink_jobs.stages.quality.outcomes import outcome, score_bin
from rtai import pulsar_client
from rtai.jobs import launcher
from tests.flink_rest import JobRest, free_port
from tests.stack_helpers import receive_all

WINDOW_MS = 8000
THRESHOLD = 0.9


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def test_labels_join_predictions_per_version_and_the_window_bounds_the_wait(stack, tmp_path):
    run = uuid.uuid4().hex[:8]
    topics = {k: full_name(f"test-quality-{k}-{run}") for k in ("predictions", "labels", "dead_letter")}
    table = {
        "pulsar": {"service_url": stack.pulsar_service_url, "admin_url": stack.pulsar_admin_url},
        "topics": topics,
        "quality_job": {"label_window_ms": WINDOW_MS, "checkpoint_interval_ms": 1000},
    }
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text(tomli_w.dumps(table))
    rng = np.random.default_rng(7)
    now = datetime.now(UTC)
    predictions = []
    for i in range(120):
        score = float(rng.beta(0.6, 0.6))
        predictions.append(
            {"event_id": f"q-{i}", "model_version": "1" if i < 60 else "2", "score": score, "label": score >= THRESHOLD}
        )
    truth = {p["event_id"]: bool(rng.random() < 0.5) for p in predictions}
    labelled = predictions[:100]  # q-100..q-119 get no label: unlabelled after the window
    labels = [
        {"event_id": p["event_id"], "is_fraud": truth[p["event_id"]], "event_time": iso(now), "label_time": iso(now)}
        for p in labelled
    ]
    late = {
        "event_id": "q-100",
        "is_fraud": True,
        "event_time": iso(now - timedelta(seconds=60)),
        "label_time": iso(now),
    }
    orphan = {"event_id": "no-such-event", "is_fraud": False, "event_time": iso(now), "label_time": iso(now)}
    client = pulsar_client.connect(stack.pulsar_service_url)
    dead = client.subscribe(topics["dead_letter"], "test")
    rest = JobRest(free_port())
    job = launcher.start_local(
        "flink_jobs.jobs.model_quality", ["--pipeline", str(pipeline), *rest.args()], tmp_path / "job.log"
    )
    try:
        producer = client.create_producer(topics["predictions"])
        for p in predictions:
            producer.send(json.dumps(p).encode())
        producer = client.create_producer(topics["labels"])
        for label in [*labels, late, orphan]:
            producer.send(json.dumps(label).encode())
        producer.send(b"{not json")
        dead_letters = receive_all(dead, 2, 180)
        deadline = time.monotonic() + 120
        while rest.operator_metric_total("labels_joined_total") < len(labelled):
            assert time.monotonic() < deadline, (tmp_path / "job.log").read_text()[-3000:]
            time.sleep(0.5)
        deadline = time.monotonic() + WINDOW_MS / 1000 + 60
        while rest.operator_metric_total("predictions_unlabelled_total") < len(predictions) - len(labelled):
            assert time.monotonic() < deadline, "waiting predictions not dropped after the label window"
            time.sleep(0.5)
        outcomes = rest.operator_metrics("live_outcomes_total")
        bins = rest.operator_metrics("live_bin_")
        unmatched = rest.operator_metric_total("labels_unmatched_total")
    finally:
        launcher.stop_local(job)
        client.close()

    expected = Counter((p["model_version"], outcome(p["label"], truth[p["event_id"]])) for p in labelled)
    counted = {}
    for key, value in outcomes.items():
        parts = key.split(".")
        counted[(parts[parts.index("model_version") + 1], parts[parts.index("outcome") + 1])] = value
    assert counted == dict(expected)
    assert unmatched == 1  # the orphan label
    reasons = sorted(d["reason"].split(":")[0] for d in dead_letters)
    assert reasons == ["late label", "malformed JSON"]
    assert bins, "no calibration bin metrics"
    frauds_in_bin = Counter((p["model_version"], score_bin(p["score"])) for p in labelled if truth[p["event_id"]])
    for (version, b), count in frauds_in_bin.items():
        bin_id = f"{(b + 1) / 10:.1f}".replace(".", "_")  # the REST API's metric ids turn a group value's dots to _
        key = f"join-labels.model_version.{version}.bin.{bin_id}.live_bin_frauds_total"
        assert bins[key] == count
    micros = sum(v for k, v in bins.items() if k.endswith("live_bin_score_micros_total"))
    assert abs(micros - sum(round(p["score"] * 1e6) for p in labelled)) <= len(labelled)
