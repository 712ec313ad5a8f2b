"""`rtai model canary watch`: judges a running canary on the predictions topic and acts on it.

While the model's config serves the pipeline's candidate_version beside a champion (`rtai model
canary start`), every prediction the candidate made (or failed to make) is counted
(rtai.models.canary); at the first breach of the rules the candidate is rolled back (only the
champion served), and after min_events with none it is promoted (only the candidate served).
Triton's repository is what the inference job follows, so the job needs no restart either way.

Each verdict is a JSON line on stdout; the metrics go to the stack's Prometheus (job `rtai`,
process `canary-watch`, rtai.monitoring.process_metrics):
rtai_canary_running, rtai_canary_candidate_events, rtai_canary_candidate_error_rate,
rtai_canary_candidate_latency_p99_seconds, rtai_canary_score_ks and
rtai_canary_verdicts_total{decision,reason} (the CanaryRolledBack alert reads the last).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pulsar
from prometheus_client import Counter, Gauge

from flink_jobs.config.pipeline_config import PipelineConfig
from flink_jobs.config.topics import full_name
from rtai import pulsar_client
from rtai.models import repository as models
from rtai.models.canary import CandidateStats, Verdict, judge
from rtai.models.triton_access import TritonAccess
from rtai.monitoring import process_metrics

log = logging.getLogger(__name__)
CHECK_EVERY_S = 1.0  # how often the served versions are read and the rules applied


@dataclass(frozen=True)
class Canary:
    champion: int
    candidate: int


class CanaryMetrics:
    def __init__(self) -> None:
        labels = ["model", "candidate"]
        self.running = Gauge("rtai_canary_running", "1 while a canary of the model runs", labels)
        self.events = Gauge("rtai_canary_candidate_events", "events routed to the candidate so far", labels)
        self.error_rate = Gauge("rtai_canary_candidate_error_rate", "candidate events the champion scored", labels)
        self.latency = Gauge("rtai_canary_candidate_latency_p99_seconds", "p99 of the candidate's Triton calls", labels)
        self.score_ks = Gauge("rtai_canary_score_ks", "KS distance of its scores from the champion's", labels)
        self.verdicts = Counter("rtai_canary_verdicts", "canary verdicts", [*labels, "decision", "reason"])

    def show(self, model: str, candidate: int, stats: CandidateStats, running: bool) -> None:
        labels = (model, str(candidate))
        self.running.labels(*labels).set(1 if running else 0)
        self.events.labels(*labels).set(stats.events)
        self.error_rate.labels(*labels).set(stats.error_rate)
        self.latency.labels(*labels).set(stats.latency_p99_ms / 1000)
        self.score_ks.labels(*labels).set(stats.score_ks)


def running_canary(repository: Path, name: str, candidate: int, shadow: int) -> Canary | None:
    """The canary when the model's config serves the candidate beside a champion (a shadow aside)."""
    served = models.served(repository, name)
    champions = [v for v in served if v not in (candidate, shadow)]
    if candidate in served and champions:
        return Canary(champions[-1], candidate)
    return None


def act(repository: Path, name: str, canary: Canary, verdict: Verdict, triton: TritonAccess) -> int:
    """Stops serving the champion (promote) or the candidate (rollback); the one of them kept."""
    promoted = verdict.decision == "promote"
    kept, dropped = (canary.candidate, canary.champion) if promoted else (canary.champion, canary.candidate)
    models.stop_serving(repository, name, dropped, triton)
    return kept


def watch(
    config: PipelineConfig,
    client: pulsar.Client,
    repository: Path,
    triton: TritonAccess,
    *,
    subscription: str,
    metrics: CanaryMetrics,
    stopping: threading.Event,
    until_verdict: bool = False,
) -> dict | None:
    """Judges canaries until `stopping` (or the first verdict with until_verdict, returned)."""
    name, rules = config.model.name, config.model.canary
    consumer = client.subscribe(
        full_name(config.topics.predictions),
        subscription,
        initial_position=pulsar.InitialPosition.Latest,
        receiver_queue_size=5000,
    )
    stats, canary, checked = CandidateStats(), None, 0.0
    try:
        while not stopping.is_set():
            if time.monotonic() - checked >= CHECK_EVERY_S:
                checked = time.monotonic()
                now = running_canary(repository, name, rules.candidate_version, config.model.shadow.version)
                if now != canary:
                    stats, canary = CandidateStats(), now
                    if now:
                        log.info(json.dumps({"canary": "running", "model": name, **now.__dict__}))
                if canary:
                    verdict = judge(stats, rules)
                    metrics.show(name, canary.candidate, stats, True)
                    if verdict:
                        served = act(repository, name, canary, verdict, triton)
                        record = {
                            "canary": verdict.decision,
                            "model": name,
                            **canary.__dict__,
                            "served": served,
                            "reason": verdict.reason,
                            "detail": verdict.detail,
                            **stats.figures(),
                        }
                        print(json.dumps(record), flush=True)
                        metrics.verdicts.labels(name, str(canary.candidate), verdict.decision, verdict.reason).inc()
                        metrics.show(name, canary.candidate, stats, False)
                        stats, canary = CandidateStats(), None
                        if until_verdict:
                            return record
            try:
                message = consumer.receive(timeout_millis=200)
            except pulsar.Timeout:
                continue
            prediction = json.loads(message.data())
            consumer.acknowledge(message)
            if canary and prediction.get("model") == name and prediction.get("canary") == "candidate":
                stats.add(prediction)
    finally:
        consumer.close()
    return None


def run(
    config: PipelineConfig,
    repository: Path,
    triton: TritonAccess,
    subscription: str,
    until_verdict: bool,
    timeout_s: float | None,
) -> dict | None:
    """`watch` until SIGTERM or SIGINT (or timeout_s), its metrics served to the stack's Prometheus."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    if timeout_s:
        timer = threading.Timer(timeout_s, stopping.set)
        timer.daemon = True
        timer.start()
    client = pulsar_client.connect(
        config.pulsar.service_url,
        tls_trust_certs_file=config.pulsar.tls_trust_certs_file,
        token=config.model.canary.pulsar_token,
    )
    try:
        with process_metrics.serving("canary-watch"):
            return watch(
                config,
                client,
                repository,
                triton,
                subscription=subscription,
                metrics=CanaryMetrics(),
                stopping=stopping,
                until_verdict=until_verdict,
            )
    finally:
        client.close()
