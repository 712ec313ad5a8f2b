"""The feature job's two figures, measured on the running stack with the job on the embedded MiniCluster,
per push writer (feature-server: /push to the stack's feature server; redis: the JVM writing Feast's
Redis online store, on Redis and a feature server of their own when the stack serves SQLite),
each writer's runs interleaved with the others' when repeated:

- freshness: generated transactions published at a fixed rate; for a sample of them, the time
  from the moment the event was handed to Pulsar to the first `/get-online-features` answer
  whose card_realtime row is stamped at or after the event's time (p50/p95/p99/max);
- maximum sustained rate: a backlog of transactions published first, then drained by the job;
  the rate is what the job's subscription delivered between 20 % and 90 % of the backlog
  (steady state, start-up and the tail left out). Backpressure paces delivery to processing.
  The CPU of each process in that window, per drained event, beside it;
- Feast's own write cost: CPU per row of Feast's `push` and `write_to_online_store`, in one
  process of the feast environment (no feature server, no HTTP), on a scratch copy of the
  repository with its SQLite online store: the floor under the job's push.

Each phase runs on fresh topics with a copy of the pipeline config that only changes the
topics, the subscription and the writer.
"""

from __future__ import annotations

import itertools
import json
import statistics
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pulsar

from flink_jobs.clients.feast_client import FeastClient
from flink_jobs.config import pipeline_config
from flink_jobs.config.topics import full_name
from flink_jobs.errors import UserFacingError
from flink_jobs.events import Transaction
from rtai import derived_pipeline, env_python, paths, pulsar_client, subscription_stats
from rtai.console import step
from rtai.generator import population, records, stream
from rtai.jobs import launcher
from rtai.stack import config as stack_config
from rtai.stack import processes
from rtai.stack.feast_repo import FeastRepo, copy_of_definitions
from rtai.stack.redis import require_redis_server

from . import drain, redis_online_store, report
from . import repeats as repeats_of
from .cpu_time import stack_meter
from .pipeline import remove_topics

PROBED_FEATURE = "card_realtime:txn_count_1m"
READY_CARD = 999_999_999  # the readiness probe's card: no generated card has this id
SUBSCRIPTION = "bench"
JOB = "feature job"  # its name in the CPU figures
WRITE_COST = paths.INFRA_DIR / "feast" / "write_cost.py"
WRITE_COST_CALLS = 20  # of the job's push.batch_size rows each


def _row_time_ms(feast: FeastClient, cards: list[int]) -> list[int | None]:
    """Each card's card_realtime row time in epoch ms (None: no row). Feast's online stores keep
    whole seconds, so a row stamped second S holds every event of its card up to the end of S."""
    column = feast.online_features({"card_id": cards}, features=[PROBED_FEATURE])[PROBED_FEATURE.split(":")[1]]
    return [
        round(datetime.fromisoformat(stamp).timestamp() * 1000) if status == "PRESENT" else None
        for stamp, status in zip(column.event_timestamps, column.statuses, strict=True)
    ]


@dataclass
class FreshnessProbe:
    """Polls the feature server for sampled events until each one's features are visible.

    An event counts as visible when its card's row is stamped at or after the event's second.
    Events whose card had an earlier event in the same second are not sampled: that
    earlier event's row would look like theirs."""

    feast: FeastClient
    sample_every: int
    pending: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # card -> [(event second ms, sent ms)]
    latencies_ms: list[float] = field(default_factory=list)
    seen: int = 0
    last_second: dict[int, int] = field(default_factory=dict)  # card -> second of its last event
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_sent(self, tx: Transaction, sent_ms: int) -> None:
        self.add(tx.card_id, tx.event_time_ms, sent_ms)

    def add(self, card_id: int, event_time_ms: int, sent_ms: float) -> None:
        self.seen += 1
        second_ms = event_time_ms // 1000 * 1000
        alone = self.last_second.get(card_id) != second_ms
        self.last_second[card_id] = second_ms
        if self.seen % self.sample_every == 0 and alone:
            with self.lock:
                self.pending.setdefault(card_id, []).append((second_ms, sent_ms))

    def poll_once(self) -> None:
        with self.lock:
            cards = list(self.pending)
        if not cards:
            return
        rows = _row_time_ms(self.feast, cards)
        now_ms = time.time_ns() // 1_000_000
        with self.lock:
            for card, row_ms in zip(cards, rows, strict=True):
                if row_ms is None:
                    continue
                waiting = self.pending.get(card, [])
                self.latencies_ms += [now_ms - sent for second_ms, sent in waiting if second_ms <= row_ms]
                left = [(second_ms, sent) for second_ms, sent in waiting if second_ms > row_ms]
                if left:
                    self.pending[card] = left
                else:
                    self.pending.pop(card, None)

    def outstanding(self) -> int:
        with self.lock:
            return sum(len(waiting) for waiting in self.pending.values())


def poller_of(probes: list[FreshnessProbe], stop: threading.Event, interval_s: float) -> threading.Thread:
    """A daemon thread, not started yet, that polls each probe every interval_s until `stop` is set."""

    def poll() -> None:
        while not stop.is_set():
            for probe in probes:
                probe.poll_once()
            time.sleep(interval_s)

    return threading.Thread(target=poll, daemon=True)


def _pipeline_copy(base: Path, folder: Path, topic: str) -> Path:
    changes = {
        "topics": {"transactions": topic, "dead_letter": f"{topic}-dead-letter"},
        "feature_job": {"subscription": SUBSCRIPTION, "start": "earliest"},
    }
    path = folder / f"{topic.rsplit('/', 1)[-1]}.toml"
    derived_pipeline.write(base, changes, path)
    return path


def _start_job(pipeline: Path, folder: Path, name: str):
    args = ["--pipeline", str(pipeline), "--checkpoint-dir", str(folder / f"{name}-checkpoints")]
    return launcher.start_local("flink_jobs.jobs.card_features", args, folder / f"{name}.log")


def wait_until_ready(
    client: pulsar.Client, topic: str, feast: FeastClient, job: processes.PidRecord, log: Path, timeout_s: float
) -> float:
    """Sends the probe card's events every 0.5 s until its features come back; seconds it took."""
    producer = client.create_producer(topic)
    started = time.monotonic()
    first_ms = None
    for index in itertools.count():
        if time.monotonic() - started > timeout_s or not processes.is_running(job):
            producer.close()
            raise UserFacingError(f"the feature job failed or produced nothing in {timeout_s:.0f} s; its log: {log}")
        now_ms = time.time_ns() // 1_000_000
        first_ms = first_ms or now_ms
        tx = Transaction(f"ready-{index}", now_ms, READY_CARD, 0, 0, "grocery", "DE", "DE", 1.0, "EUR", "pos")
        producer.send(records.to_json(tx), partition_key=str(READY_CARD), event_timestamp=now_ms)
        stamp = _row_time_ms(feast, [READY_CARD])[0]
        if stamp is not None and stamp >= first_ms // 1000 * 1000:
            producer.close()
            return time.monotonic() - started
        time.sleep(0.5)


def measure_freshness(
    config: pipeline_config.PipelineConfig, pipeline: Path, folder: Path, *, rate: float, duration_s: float
) -> dict[str, object]:
    topic = full_name(f"bench-freshness-{uuid.uuid4().hex[:8]}")
    copy = _pipeline_copy(pipeline, folder, topic)
    calls = config.feature_job.feast
    feast = FeastClient.from_calls(calls)
    probe = FreshnessProbe(feast, sample_every=max(1, round(rate / 20)))  # ~20 samples a second
    client = pulsar_client.connect(config.pulsar.service_url)
    job = _start_job(copy, folder, "freshness")
    stop = threading.Event()
    poller = poller_of([probe], stop, interval_s=0.02)
    try:
        step("starting the feature job and waiting for its first features")
        ready_s = wait_until_ready(client, topic, feast, job, folder / "freshness.log", timeout_s=180)
        step(f"publishing {rate:,g} transactions/s for {duration_s:g} s, probing freshness")
        poller.start()
        people = population.build(7, 20_000)
        count = round(rate * duration_s)
        sent = stream.publish(
            config.pulsar.service_url, topic, people, seed=7, rate=rate, count=count, on_sent=probe.on_sent
        )
        deadline = time.monotonic() + 30
        while probe.outstanding() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        launcher.stop_local(job)
        client.close()
        feast.close()
        remove_topics(config.pulsar.admin_url, [topic])
    return {
        "rate_target": rate,
        "rate_sent": round(sent.rate, 1),
        "duration_s": duration_s,
        "job_ready_s": round(ready_s, 1),
        "freshness_ms": report.percentiles_ms(probe.latencies_ms),
        "samples_never_visible": probe.outstanding(),
    }


def measure_max_rate(
    config: pipeline_config.PipelineConfig,
    pipeline: Path,
    folder: Path,
    *,
    events: int,
    timeout_s: float = 900,
    others: Mapping[str, int] | None = None,
) -> dict[str, object]:
    """`others`: processes started for the run (name -> pid), in the CPU figures beside the stack's."""
    topic = full_name(f"bench-drain-{uuid.uuid4().hex[:8]}")
    copy = _pipeline_copy(pipeline, folder, topic)
    step(f"publishing a backlog of {events:,} transactions")
    people = population.build(8, 20_000)
    stream.publish(config.pulsar.service_url, topic, people, seed=8, rate=5000, count=events, paced=False)
    step("draining it with the feature job")
    job = _start_job(copy, folder, "drain")
    try:
        return drain.drain_rate(
            lambda: subscription_stats.delivered(config.pulsar.admin_url, topic, SUBSCRIPTION),
            events,
            job,
            what=f"the feature job (log: {folder / 'drain.log'})",
            timeout_s=timeout_s,
            meter=lambda: stack_meter(JOB, job, others),
        )
    finally:
        launcher.stop_local(job)
        remove_topics(config.pulsar.admin_url, [topic])


def measure_feast_write_cost(config: pipeline_config.PipelineConfig, folder: Path) -> dict[str, object]:
    """Feast's CPU per row written online, in-process, on a scratch copy of the feature repository."""
    repo = copy_of_definitions(folder / "feast-write-cost")
    yaml = repo / "feature_store.yaml"
    FeastRepo(repo, yaml, {}).apply()
    push = config.feature_job.push
    step(f"Feast's own write cost: {WRITE_COST_CALLS} calls of {push.batch_size} rows, in-process")
    output = repo.parent / "result.json"
    with output.open("w") as out:
        args = [str(WRITE_COST), str(repo), str(yaml), push.push_source, str(push.batch_size), str(WRITE_COST_CALLS)]
        env_python.run("feast", *args, cwd=repo, stdout=out)
    return json.loads(output.read_text())


def write_cost_note(cost: dict[str, object]) -> str:
    return (
        f"Feast's own write cost ({cost['online_store']}, in-process, {cost['rows_per_call']} rows a call): "
        f"push {cost['push']['cpu_us_per_row']} us of CPU per row, "
        f"write_to_online_store {cost['write_to_online_store']['cpu_us_per_row']}"
    )


# A drain long enough for a 30 s window (20 to 90 % of the backlog) at each writer's rate here.
DRAIN_EVENTS = {"feature-server": 250_000, "redis": 1_200_000}


@contextmanager
def writer_pipelines(base: Path, folder: Path, writers: Sequence[str]) -> Iterator[dict[str, tuple[Path, dict]]]:
    """Per writer, a copy of the pipeline and the processes started for it (name -> pid):
    feature-server (/push to the stack's feature server) or redis (the JVM writing Feast's Redis
    online store, redis_online_store.started; its feature server probes freshness)."""
    if "redis" in writers:
        require_redis_server()  # before the first round, not after it
    pipelines = {}
    with ExitStack() as stores:
        for writer in writers:
            changes: dict[str, object] = {"push": {"writer": writer}}
            others: dict[str, int] = {}
            if writer == "redis":
                store = stores.enter_context(redis_online_store.started(stack_config.load(), folder / "redis-store"))
                changes |= {"redis": {"url": store.redis_url}, "feast": {"url": store.feast_url}}
                others = store.pids
            path = folder / f"{writer}-writer.toml"
            derived_pipeline.write(base, {"feature_job": changes}, path)
            pipelines[writer] = (path, others)
        yield pipelines


def measure_writers(
    base: Path,
    folder: Path,
    writers: Sequence[str],
    *,
    repeats: int,
    rate: float,
    duration_s: float,
    drain_events: dict[str, int],
) -> dict[str, dict]:
    """Each writer's drain and freshness, `repeats` rounds interleaved; per writer the median
    drain (every run's rate in its spread), the median freshness percentiles and every run."""
    runs: dict[str, list[dict]] = {writer: [] for writer in writers}
    with writer_pipelines(base, folder, writers) as pipelines:
        for repeat in range(1, repeats + 1):
            for writer, (pipeline, others) in pipelines.items():
                step(f"round {repeat}/{repeats}: the feature job writing through {writer}")
                round_folder = folder / f"round-{repeat}-{writer}"
                round_folder.mkdir()
                config = pipeline_config.load(pipeline)
                drained = measure_max_rate(config, pipeline, round_folder, events=drain_events[writer], others=others)
                fresh = measure_freshness(config, pipeline, round_folder, rate=rate, duration_s=duration_s)
                runs[writer].append({"max_sustained": drained, "freshness": fresh})
    return {writer: _combined(done) for writer, done in runs.items()}


def _combined(runs: list[dict]) -> dict:
    percentiles = [run["freshness"]["freshness_ms"] for run in runs if run["freshness"]["freshness_ms"].get("count")]
    freshness: dict[str, object] = {"freshness_ms": {"count": 0}}
    if percentiles:
        freshness["freshness_ms"] = {
            p: round(statistics.median(f[p] for f in percentiles), 1) for p in ("p50", "p95", "p99", "max")
        }
        freshness["spread"] = {p: repeats_of.spread([f[p] for f in percentiles]) for p in ("p50", "p99")}
    return {
        "max_sustained": repeats_of.median_drain([run["max_sustained"] for run in runs]),
        "freshness": freshness,
        "runs": runs,
    }


def writer_note(writer: str, figures: dict) -> str:
    drained, fresh = figures["max_sustained"], figures["freshness"]
    spread = drained.get("spread")
    ranged = f" (runs {spread['min']:,.0f}-{spread['max']:,.0f})" if spread and len(figures["runs"]) > 1 else ""
    f = fresh["freshness_ms"]
    return (
        f"writer {writer}: maximum sustained {drained['events_per_s']:,} events/s{ranged}"
        f"{drain.window_note(drained)}; freshness p50 {f.get('p50')} / p99 {f.get('p99')} ms\n"
        f"  {drain.cpu_note(drained) or 'no CPU figures'}"
    )


def run(
    pipeline: Path,
    *,
    writers: Sequence[str],
    repeats: int,
    rate: float,
    duration_s: float,
    drain_events: int | None,
) -> Path:
    config = pipeline_config.load(pipeline)
    folder = paths.RUN_DIR / "bench" / f"features-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True)  # the jobs' logs, configs and checkpoints stay for a look afterwards
    backlogs = {writer: drain_events or DRAIN_EVENTS[writer] for writer in writers}
    figures = measure_writers(
        pipeline, folder, writers, repeats=repeats, rate=rate, duration_s=duration_s, drain_events=backlogs
    )
    write_cost = measure_feast_write_cost(config, folder)
    job = config.feature_job
    result = {
        "pipeline": str(pipeline),
        "config": {
            "parallelism": job.parallelism,
            "checkpoint_interval_ms": job.checkpoint_interval_ms,
            **job.flink_settings(),
            "push": {"to": job.push.to, "batch_size": job.push.batch_size, "max_wait_ms": job.push.max_wait_ms},
            "freshness_rate": rate,
            "repeats": repeats,
            "drain_events": backlogs,
        },
        "writers": figures,
        "feast_write_cost": write_cost,
    }
    path = report.write("feature-job", result)
    notes = "\n".join(writer_note(writer, done) for writer, done in figures.items())
    print(f"the feature job at {rate:,g} events/s for freshness, {repeats} round(s):\n{notes}")
    print(f"{write_cost_note(write_cost)}\nwritten to {path}")
    return path
