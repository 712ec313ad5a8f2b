"""End to end in one run: the inference job against the naive baseline on the same stack and data.

For each contender, on fresh topics with a copy of the pipeline config:
- maximum sustained rate: a backlog of generated transactions is published first, then
  drained; the rate of predictions between 20 % and 90 % of it;
- fixed rates: transactions published at each rate for a warm-up and then a measured window;
  per event, latency = prediction publish time - input publish time (both read back from
  Pulsar; with exactly-once delivery, the time the reader got the prediction, after the
  commit); throughput = predictions published in the window / its length. A rate is sustained
  when every event got its prediction and latency did not grow across the window (the input
  backlog did not grow); higher rates are skipped after the first one that is not.
For the job, a per-stage breakdown from its own timings in each prediction: source (input
publish -> received_at_ms), waiting for the batch, Feast, Triton, sink (scored_at_ms -> publish).
"""

from __future__ import annotations

import contextlib
import gc
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from flink_jobs.config import pipeline_config
from flink_jobs.config.topics import full_name
from flink_jobs.errors import UserFacingError
from rtai import derived_pipeline, pulsar_client, subscription_stats
from rtai.console import progress_bar, step
from rtai.generator import population, stream
from rtai.generator.commands import DEFAULT_CUSTOMERS, DEFAULT_SEED
from rtai.jobs import launcher
from rtai.output_reader import OutputReader, Outputs
from rtai.stack import processes

from . import drain, report
from .cpu_time import stack_meter

SUBSCRIPTION = "bench"
WARMUP_S = 10.0
# Before the first rate, the contender answers this long of it (not measured): its start-up (JIT,
# connections, the feature cache's first reads) is not any rate's latency.
PRIME_S = 20.0
DRAIN_TIMEOUT_S = 60.0
GROWTH_SLICE_MS = 5000  # latency of the window's first and last 5 s, compared
GROWTH_LIMIT_MS = 200  # more growth than this between them: the backlog grows
START_TIMEOUT_S = 180.0
FRESH_TOPICS = ("transactions", "predictions", "alerts", "dead_letter")  # each run's own


@dataclass(frozen=True)
class Contender:
    name: str
    module: str
    dead_letter_job: str
    keeps_checkpoints: bool
    latency_at_read: bool = False  # latency to the reader's receipt (exactly-once: after the commit)

    @property
    def slug(self) -> str:
        return self.name.replace(" ", "-")

    def start(self, pipeline: Path, folder: Path, label: str) -> processes.PidRecord:
        args = ["--pipeline", str(pipeline)]
        if self.keeps_checkpoints:
            args += ["--checkpoint-dir", str(folder / f"{label}-checkpoints")]
        return launcher.start_local(self.module, args, folder / f"{label}.log")


JOB = Contender("inference job", "flink_jobs.jobs.fraud_scoring", "inference-job", keeps_checkpoints=True)
# The same job reading the real-time card view from Feast (realtime_features = "feast").
JOB_FEAST_VIEW = Contender(
    "inference job with the Feast view", "flink_jobs.jobs.fraud_scoring", "inference-job", keeps_checkpoints=True
)
# The job with delivery = "exactly-once": its outputs are readable when the checkpoint commits them.
JOB_EXACTLY_ONCE = Contender(
    "inference job exactly-once",
    "flink_jobs.jobs.fraud_scoring",
    "inference-job",
    keeps_checkpoints=True,
    latency_at_read=True,
)
BASELINE = Contender("naive baseline", "rtai.benchmarks.naive_baseline", "naive-baseline", keeps_checkpoints=False)
FLOOR = Contender("parse relay", "flink_jobs.jobs.parse_relay", "parse-relay", keeps_checkpoints=True)
ASYNCIO = Contender("asyncio consumer", "rtai.benchmarks.asyncio_consumer", "asyncio-consumer", keeps_checkpoints=False)


def fresh_pipeline(base: Path, folder: Path, label: str) -> tuple[Path, pipeline_config.PipelineConfig]:
    """The pipeline config on new topics, read by the bench subscription from the earliest message."""
    run = f"{label}-{uuid.uuid4().hex[:6]}"
    topics = {k: f"bench-{run}-{k.replace('_', '-')}" for k in FRESH_TOPICS}
    changes = {"topics": topics, "inference_job": {"subscription": SUBSCRIPTION, "start": "earliest"}}
    path = folder / f"{run}.toml"
    return path, derived_pipeline.write(base, changes, path)


def remove_topics(admin_url: str, topics: list[str]) -> None:
    """A run's own topics go when it ends: kept, a few full benches' backlogs and outputs filled the
    bookie's disk (28 GB, 2026-12-06). Best effort: a broker that is gone must not hide why."""
    for topic in topics:
        try:
            subscription_stats.delete_topic(admin_url, full_name(topic))
        except (httpx.HTTPError, UserFacingError) as err:
            print(f"    could not remove the bench topic {topic}: {err}")


def remove_fresh_topics(config: pipeline_config.PipelineConfig) -> None:
    """The topics fresh_pipeline made for a run."""
    remove_topics(config.pulsar.admin_url, [getattr(config.topics, key) for key in FRESH_TOPICS])


def stages(out: Outputs, ids: list[str]) -> dict[str, dict[str, float]]:
    """p50/p99 of each stage of the job, from its timings in the predictions."""
    spans: dict[str, list[float]] = {k: [] for k in ("source", "batch_wait", "feast", "triton", "sink")}
    for event_id in ids:
        published_ms, body = out.predictions[event_id][0], out.prediction(event_id)
        spans["source"].append(body["received_at_ms"] - out.published[event_id])
        spans["batch_wait"].append(body["wait_ms"])
        spans["feast"].append(body["enrich_ms"])
        spans["triton"].append(body["infer_ms"])
        spans["sink"].append(published_ms - body["scored_at_ms"])
    return {
        name: {"p50": round(float(np.percentile(v, 50)), 1), "p99": round(float(np.percentile(v, 99)), 1)}
        for name, v in spans.items()
        if v
    }


def window_figures(out: Outputs, from_ms: int, to_ms: int, at_read: bool = False) -> dict[str, object]:
    """at_read: latency to when the reader got the prediction, not to its publish time."""
    # Copies (each one C call under the GIL): the reader's thread may still be adding late outputs.
    published, predictions, read = dict(out.published), dict(out.predictions), dict(out.read)
    ids = [i for i, at in published.items() if from_ms <= at <= to_ms]
    answered = [i for i in ids if i in predictions]
    latency = {i: (read[i] if at_read else predictions[i][0]) - published[i] for i in answered}
    outputs = sum(1 for at, _ in predictions.values() if from_ms <= at <= to_ms)
    first = [v for i, v in latency.items() if published[i] < from_ms + GROWTH_SLICE_MS]
    last = [v for i, v in latency.items() if published[i] > to_ms - GROWTH_SLICE_MS]
    growth = float(np.median(last) - np.median(first)) if first and last else float("inf")
    return {
        "inputs": len(ids),
        "unanswered": len(ids) - len(answered),
        "events_per_s": round(outputs / ((to_ms - from_ms) / 1000), 1),
        "latency_ms": report.percentiles_ms(list(latency.values())),
        "latency_growth_ms": round(growth, 1),
        "sustained": len(answered) == len(ids) > 0 and growth < GROWTH_LIMIT_MS,
        "answered_ids": answered,
    }


def _publish(config: pipeline_config.PipelineConfig, rate: float, count: int, *, paced: bool = True) -> None:
    """Generated transactions of the history's card holders (so Feast knows them) to the input topic."""
    people = population.build(DEFAULT_SEED, DEFAULT_CUSTOMERS)
    topic = config.topics.transactions
    stream.publish(config.pulsar.service_url, topic, people, seed=DEFAULT_SEED, rate=rate, count=count, paced=paced)


@contextlib.contextmanager
def _collector_off() -> Iterator[None]:
    """The bench process's cyclic collector off while it paces events and reads the answers. It
    holds every event's times and answer; a full collection over them (up to 437 ms in a 5-minute
    run at 1,000/s) held the sender, which then sent the events behind it in one burst: a load no
    real source puts on the contender, and the slowest seconds of that run (bench/README.md)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _wait_for_answers(reader: OutputReader, from_ms: int, to_ms: int, sent: int) -> None:
    """Until each of the `sent` events published between from_ms and to_ms has its prediction (or
    DRAIN_TIMEOUT_S). The reader learns an event's publish time by reading the input topic, so the
    window's events are counted again each time: a list taken once missed the last few it had not
    read yet, and the figures then called them unanswered (a run not sustained for no fault of its own)."""
    out = reader.outputs
    bar = progress_bar("answered", sent, show_rate=False)
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        # A copy in one C call: iterating the reader's dict could see it grow (a collection runs Python code).
        expected = [i for i, at in dict(out.published).items() if from_ms <= at <= to_ms]
        done = sum(1 for i in expected if i in out.predictions)
        bar.update(done - bar.n)
        if len(expected) >= sent and done >= len(expected):
            break
        time.sleep(0.5)
    bar.close()


def fixed_rates(
    contender: Contender, base: Path, folder: Path, rates: list[float], measure_s: float
) -> list[dict[str, object]]:
    pipeline, config = fresh_pipeline(base, folder, f"{contender.slug}-rates")
    client = pulsar_client.connect(config.pulsar.service_url)
    reader = OutputReader(client, config.topics, "bench-reader", contender.dead_letter_job)
    reader.start()
    log = folder / f"{contender.slug}-rates.log"
    process = contender.start(pipeline, folder, f"{contender.slug}-rates")
    results = []
    try:
        subscription_stats.wait_until_consuming(
            config.pulsar.admin_url,
            full_name(config.topics.transactions),
            {SUBSCRIPTION},
            {f"{contender.name} (log: {log})": process},
            START_TIMEOUT_S,
        )
        if rates:
            step(f"{contender.name}: {rates[0]:,g} events/s for {PRIME_S:g} s, not measured (start-up)")
            started_ms = time.time_ns() // 1_000_000
            primed = round(rates[0] * PRIME_S)
            _publish(config, rates[0], primed)
            _wait_for_answers(reader, started_ms, time.time_ns() // 1_000_000, primed)
            reader.outputs = Outputs()
        for rate in rates:
            count = round(rate * (WARMUP_S + measure_s))
            step(f"{contender.name}: {rate:,g} events/s for {WARMUP_S:g} s warm-up + {measure_s:g} s measured")
            with _collector_off():
                started_ms = time.time_ns() // 1_000_000
                _publish(config, rate, count)
                ended_ms = time.time_ns() // 1_000_000
                _wait_for_answers(reader, started_ms, ended_ms, count)
            measured_from_ms = started_ms + stream.START_LEAD_MS + round(WARMUP_S * 1000)
            figures = window_figures(reader.outputs, measured_from_ms, ended_ms, contender.latency_at_read)
            answered = figures.pop("answered_ids")
            if contender.module == JOB.module and answered:
                figures["stages_ms"] = stages(reader.outputs, answered)
            reader.outputs = Outputs()  # the next rate starts from nothing
            lat = figures["latency_ms"]
            print(
                f"    {figures['events_per_s']:,} events/s out; latency p50 {lat.get('p50')} ms, p95 {lat.get('p95')} "
                f"ms, p99 {lat.get('p99')} ms, max {lat.get('max')} ms; "
                f"{'sustained' if figures['sustained'] else 'NOT sustained'}"
            )
            results.append({"rate": rate, **figures})
            if not figures["sustained"]:
                break
    finally:
        launcher.stop_local(process)
        reader.stop()
        client.close()
        remove_fresh_topics(config)
    return results


def max_rate(contender: Contender, base: Path, folder: Path, events: int) -> dict[str, object]:
    pipeline, config = fresh_pipeline(base, folder, f"{contender.slug}-drain")
    step(f"{contender.name}: a backlog of {events:,} transactions, then draining it")
    _publish(config, 5000, events, paced=False)
    client = pulsar_client.connect(config.pulsar.service_url)
    reader = OutputReader(client, config.topics, "bench-reader", contender.dead_letter_job)
    reader.start()
    process = contender.start(pipeline, folder, f"{contender.slug}-drain")
    try:
        what = f"the {contender.name} (log: {folder / f'{contender.slug}-drain.log'})"
        watched = drain.drain_rate(
            lambda: len(reader.outputs.predictions),
            events,
            process,
            what=what,
            meter=lambda: stack_meter(contender.name, process),
        )
        # A copy first: the reader thread still adds predictions the job sends after the 90 % mark.
        published = [at for at, _ in list(reader.outputs.predictions.values())]
        # The rate by the predictions' publish times; the reader's own view of the window kept beside it.
        return {**watched, "reader_window_s": watched["window_s"], **drain.rate_from_publish_times(published, events)}
    finally:
        launcher.stop_local(process)
        reader.stop()
        client.close()
        remove_fresh_topics(config)
