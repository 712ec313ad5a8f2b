"""Monitoring live: both jobs on the stack's Flink cluster under load (the inference job reading
the feature job's real-time features from Feast, with cached views), scraped by the stack's
Prometheus (Flink's reporter on the TaskManager, Pulsar, Feast, Triton, the project's processes),
alerts through Alertmanager to the stack's webhook receiver.

- the job's own metrics reach Prometheus, and their counts match what was sent;
- the generator is a target while it runs;
- Triton killed: TritonDown reaches the webhook firing, and resolved once Triton is back;
- the model-quality job joining labels that call every alert wrong: LivePrecisionLow reaches it;
- the inference job cancelled under load: InputBacklogGrowing reaches the webhook;
- every dashboard panel's queries return data over the run (`rtai monitor render`, which draws
  them to a PNG), and the terminal view shows every panel and the alerts.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pulsar
import pytest

from flink_jobs.jobs.fraud_scoring import FLINK_JOB_NAME
from rtai import pulsar_client
from rtai.monitoring import dashboard
from tests.faults.load import Publisher
from tests.flink_rest import JobRest
from tests.stack_helpers import (
    MODEL_COLUMNS,
    IsolatedStack,
    cli,
    cluster_pipeline,
    isolated_stack,
    served_model_toml,
    start_service,
    stop_service,
)

# The monitoring services scrape what `rtai stack` started and registered (its file_sd targets).
pytestmark = pytest.mark.process_stack

SERVICES = [
    "pulsar",
    "feast",
    "triton",
    "zookeeper",
    "flink-jobmanager",
    "flink-taskmanager",
    "alert-webhook",
    "alertmanager",
    "prometheus",
]
RATE = 50.0  # events per second while the suite runs
INFERENCE = {
    "realtime_features": "feast",  # read from Feast, where the feature job pushes them: features with ages
    "cached_views": [
        {"view": "card_stats", "join_key": "card_id", "ttl_s": 600},
        {"view": "merchant_stats", "join_key": "merchant_id", "ttl_s": 600},
    ],
}
# The job's metrics, as flink_jobs/metrics.py names them and Flink's reporter serves them (but
# feature age: this stack's Feast has no materialized batch features, so no feature timestamps).
JOB_METRICS = [
    "flink_taskmanager_job_task_operator_events_received_total",
    "flink_taskmanager_job_task_operator_events_valid_total",
    "flink_taskmanager_job_task_operator_predictions_total",
    "flink_taskmanager_job_task_operator_le_batch_size_events_bucket",
    "flink_taskmanager_job_task_operator_le_end_to_end_latency_seconds_bucket",
    "flink_taskmanager_job_task_operator_le_in_job_latency_seconds_bucket",
    "flink_taskmanager_job_task_operator_le_feast_request_duration_seconds_bucket",
    "flink_taskmanager_job_task_operator_le_triton_request_duration_seconds_bucket",
    "flink_taskmanager_job_task_operator_le_prediction_score_bucket",
    "flink_taskmanager_job_task_operator_feast_errors_total",
    "flink_taskmanager_job_task_operator_triton_retries_total",
]


@dataclass
class Live:
    stack: IsolatedStack
    publisher: Publisher
    job: JobRest
    topics: dict[str, str]
    pipeline: Path

    def query(self, promql: str) -> list[dict]:
        answer = httpx.get(f"{self.stack.config.prometheus_url}/api/v1/query", params={"query": promql}, timeout=10)
        answer.raise_for_status()
        return answer.json()["data"]["result"]

    def value(self, promql: str) -> float | None:
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def received(self) -> list[dict]:
        return httpx.get(f"{self.stack.config.alert_webhook_url}/alerts", timeout=10).json()

    def wait_for_alert(self, name: str, status: str, timeout_s: float, since: float, **labels: str) -> dict:
        """The first `status` notification of alert `name` (with these `labels`) the webhook received after `since`."""
        deadline = time.monotonic() + timeout_s
        while True:
            for alert in self.received():
                if (
                    alert["labels"]["alertname"] == name
                    and alert["status"] == status
                    and alert["received_at"] > since
                    and labels.items() <= alert["labels"].items()
                ):
                    return alert
            assert time.monotonic() < deadline, f"no {status} {name} at the webhook within {timeout_s} s"
            time.sleep(2)


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("monitoring")
    # Three slots: the feature job, the inference job and, for its test, the model-quality job.
    toml = served_model_toml(tmp, MODEL_COLUMNS, seed=11, overrides={"flink": {"taskmanager_slots": 3}})
    with isolated_stack(tmp, SERVICES, toml) as stack:
        pipeline, topics = cluster_pipeline(
            tmp, stack, "monitoring", checkpoint_interval_ms=2000, features=True, inference=INFERENCE
        )
        jobs = {}
        for name in ("features", "inference"):
            submitted = cli("job", "submit", name, "--pipeline", str(pipeline), env=stack.env)
            assert submitted.returncode == 0, submitted.stderr
            jobs[name] = JobRest(stack.config.flink.rest_port, submitted.stdout.split()[3])
            jobs[name].wait_running()
        job = jobs["inference"]
        client = pulsar_client.connect(stack.config.pulsar_service_url, tmp / "client.log")
        publisher = Publisher(client, topics["transactions"], RATE)
        publisher.start()
        malformed = pulsar_client.input_producer(client, topics["transactions"])
        for payload in (b"{not json", b'{"event_id": "x"}', b"[]"):  # dead letters, for their panel
            malformed.send(payload)
        malformed.close()
        try:
            yield Live(stack, publisher, job, topics, pipeline)
        finally:
            publisher.stop()
            client.close()


def test_the_jobs_metrics_reach_prometheus_and_count_what_was_sent(live, record_property):
    deadline = time.monotonic() + 240
    while (live.value("sum(rtai:predictions:rate1m)") or 0) <= 0:
        assert time.monotonic() < deadline, "no prediction rate in Prometheus within 240 s"
        time.sleep(3)
    missing = [name for name in JOB_METRICS if not live.query(f'{name}{{job="flink"}}')]
    assert not missing, missing
    # The counters follow the load: the inference job receives at the publisher's rate (once a
    # minute of samples fills rate()'s window), and every event it received is valid or dead-lettered.
    job = f'job="flink",job_name="{FLINK_JOB_NAME}"'
    deadline = time.monotonic() + 120
    while True:
        rate = live.value(f"sum(rate(flink_taskmanager_job_task_operator_events_received_total{{{job}}}[1m]))")
        if rate is not None and 0.8 * RATE <= rate <= 1.2 * RATE:
            break
        assert time.monotonic() < deadline, f"events received at {rate}/s, sent at {RATE}/s"
        time.sleep(5)
    # One query, so the three counters come from the same scrape (three queries may straddle one).
    names = ("events_received_total", "events_valid_total", "reason_events_dead_lettered_total")
    pattern = "|".join(f"flink_taskmanager_job_task_operator_{name}" for name in names)
    answer = live.query(f'sum by (__name__) ({{__name__=~"{pattern}",{job}}})')
    counts = {
        r["metric"]["__name__"].removeprefix("flink_taskmanager_job_task_operator_"): float(r["value"][1])
        for r in answer
    }
    # The reporter reads each counter at its own moment while events keep coming: the three agree
    # to within the events of those moments (measured: 4 and 5 of about 2,600 at 50/s).
    accounted = counts["events_valid_total"] + counts["reason_events_dead_lettered_total"]
    assert abs(counts["events_received_total"] - accounted) <= 0.005 * accounted, counts
    assert counts["reason_events_dead_lettered_total"] == 3, counts
    p99 = live.value("max(rtai:end_to_end_latency_seconds:p99)")
    assert p99 is not None and 0 < p99 < 60, p99
    # Every target the stack announced answers, Feast's and Triton's own endpoints among them.
    targets = {r["metric"]["job"]: r["value"][1] for r in live.query("up")}
    assert {"pulsar", "feast", "triton", "flink", "prometheus", "alertmanager", "alert-webhook"} <= set(targets)
    assert set(targets.values()) == {"1"}, targets
    record_property("end-to-end p99 (s)", round(p99, 3))


def test_the_generator_serves_its_metrics_while_it_runs(live):
    """A project process (`rtai generate stream`) is a Prometheus target while it runs, not after."""
    topic = f"{live.topics['transactions']}-generator"
    command = [sys.executable, "-m", "rtai", "generate", "stream", "--topic", topic, "--rate", "20", "--count", "600"]
    generator = subprocess.Popen(command, env={**os.environ, **live.stack.env}, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        query = 'sum(rtai_generator_events_published_total{job="rtai",process="generator"})'
        while (published := live.value(query) or 0) <= 0:
            assert time.monotonic() < deadline, "the generator's metrics did not reach Prometheus within 60 s"
            time.sleep(2)
        assert live.value('max(rtai_generator_target_rate_events_per_second{job="rtai"})') == 20
        assert generator.wait(timeout=60) == 0
    finally:
        generator.kill()
    assert 0 < published <= 600
    assert not list((live.stack.run_dir / "data" / "prometheus" / "processes").glob("generator-*.json"))


def test_triton_down_reaches_the_webhook_and_resolves_when_it_is_back(live, record_property):
    killed_at = time.time()
    stop_service(live.stack, "triton", kill=True)
    firing = live.wait_for_alert("TritonDown", "firing", timeout_s=180, since=killed_at)
    fired_after = firing["received_at"] - killed_at
    start_service(live.stack, "triton")
    back_at = time.time()
    resolved = live.wait_for_alert("TritonDown", "resolved", timeout_s=180, since=back_at)
    assert resolved["labels"]["job"] == "triton"
    assert resolved["startsAt"] == firing["startsAt"]
    record_property("TritonDown firing after kill (s)", round(fired_after, 1))
    record_property("TritonDown resolved after start (s)", round(resolved["received_at"] - back_at, 1))
    record_property("TritonDown notifications", json.dumps([firing, resolved], sort_keys=True))
    live.job.wait_running()


class WrongLabels(threading.Thread):
    """Labels every prediction it reads with the opposite of its label, as a model gone wrong
    would be judged: every alert a false positive, every other event a missed fraud."""

    def __init__(self, client: pulsar.Client, topics: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.consumer = client.subscribe(
            topics["predictions"], "wrong-labels", initial_position=pulsar.InitialPosition.Latest
        )
        self.producer = client.create_producer(topics["labels"])
        self.stopping = threading.Event()
        self.alerts_labelled = 0

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                message = self.consumer.receive(timeout_millis=500)
            except pulsar.Timeout:
                continue
            prediction = json.loads(message.data())
            label = {
                "event_id": prediction["event_id"],
                "is_fraud": not prediction["label"],
                "event_time": prediction["event_time"],
                "label_time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            }
            self.producer.send(json.dumps(label).encode())
            self.alerts_labelled += prediction["label"]
            self.consumer.acknowledge(message)


def test_a_model_whose_live_precision_drops_fires_the_alert_at_the_webhook(live, record_property):
    """The model-quality job on the stack's cluster joins the labels to the predictions; with
    every alert labelled a false positive, LivePrecisionLow reaches the webhook for the version."""
    submitted = cli("job", "submit", "quality", "--pipeline", str(live.pipeline), env=live.stack.env)
    assert submitted.returncode == 0, submitted.stderr
    quality = JobRest(live.stack.config.flink.rest_port, submitted.stdout.split()[3])
    quality.wait_running()
    client = pulsar_client.connect(live.stack.config.pulsar_service_url)
    labels = WrongLabels(client, live.topics)
    started = time.time()
    labels.start()
    try:
        firing = live.wait_for_alert("LivePrecisionLow", "firing", timeout_s=300, since=started)
    finally:
        labels.stopping.set()
        labels.join(timeout=10)
        client.close()
        cli("job", "cancel", quality.job_id(), env=live.stack.env)
    assert firing["labels"]["job_name"] == "model quality" and firing["labels"]["model_version"] == "1"
    record_property(
        "LivePrecisionLow firing after the first wrong label (s)", round(firing["received_at"] - started, 1)
    )
    record_property("alerts labelled wrong by then", labels.alerts_labelled)


def test_a_stopped_job_under_load_fires_the_backlog_alert(live, record_property):
    cancelled = cli("job", "cancel", live.job.job_id(), env=live.stack.env)
    assert cancelled.returncode == 0, cancelled.stderr
    stopped_at = time.time()
    # (The model-quality job's test left its subscription on the predictions behind: not this one.)
    firing = live.wait_for_alert(
        "InputBacklogGrowing", "firing", timeout_s=300, since=stopped_at, subscription="monitoring-inference"
    )
    assert firing["labels"]["topic"] == live.topics["transactions"]
    record_property("InputBacklogGrowing firing after cancel (s)", round(firing["received_at"] - stopped_at, 1))
    record_property("InputBacklogGrowing notification", json.dumps(firing, sort_keys=True))


def test_every_dashboard_panel_has_data_and_renders_to_a_png(live, tmp_path):
    out = tmp_path / "dashboard.png"
    rendered = cli("monitor", "render", "--minutes", "15", "--out", str(out), env=live.stack.env)
    assert rendered.returncode == 0, rendered.stderr
    series = json.loads(out.with_suffix(".json").read_text())
    empty = [
        panel["title"]
        for panel in series["panels"]
        if not any(math.isfinite(v) for s in panel["series"] for _, v in s["points"])
    ]
    assert not empty, f"panels without data: {empty}"
    assert len(series["panels"]) == len(dashboard.panels()) >= 10
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 30_000


def test_the_terminal_view_shows_every_panel_and_the_alerts(live):
    shown = cli("monitor", "top", "--once", env=live.stack.env)
    assert shown.returncode == 0, shown.stderr
    for panel in dashboard.panels():
        assert f"{panel.title}: " in shown.stdout
    assert "InputBacklogGrowing" in shown.stdout  # the inference job is cancelled: still firing
