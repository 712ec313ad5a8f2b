"""The inference job's batching operator, composed of its stages: enrich, assemble the model's
inputs, infer, then predictions and alerts out.

PyFlink 1.20 has no Python AsyncFunction, so batching lives here: transactions wait in keyed
state (a checkpoint holds them) until max_batch_size are there or max_wait_ms has passed; then
one Feast request enriches the whole batch and Triton scores it, off the operator's thread, while
the operator takes the next events (up to batches_in_flight batches; a started batch stays in
keyed state until its predictions are emitted). The stages are fused in one operator so a batch
crosses no serialization hop between them. A Triton failure past its retry budget, or a batch
not done within batch_timeout_ms, fails the job, and Flink restarts it from the last checkpoint
with the waiting and the started transactions restored; a Feast failure too, unless
`[inference_job.feast] on_unavailable = "degrade"` (then defaults and a circuit breaker).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from concurrent.futures import Future

import orjson
from pyflink.datastream import RuntimeContext

from flink_jobs.clients.circuit_breaker import CircuitBreaker
from flink_jobs.clients.feast_client import FeastClient
from flink_jobs.config.pipeline_config import PipelineConfig
from flink_jobs.events import Transaction, to_json
from flink_jobs.keyed_batches import KeyedBatchFunction
from flink_jobs.metrics import ScoringMetrics, reason_kind
from flink_jobs.stages.enrich.enricher import Enricher, feature_ages_s
from flink_jobs.stages.inference.infer import BatchScoring, ScoredBatch
from flink_jobs.stages.input.parse import DEAD_LETTERS
from flink_jobs.stages.output.alerts import ALERTS, alert, fired_rules
from flink_jobs.stages.output.dead_letters import dead_letter
from flink_jobs.stages.output.predictions import ModelInfo, prediction
from flink_jobs.state_layout import SCORING_ENTRIES, Entry

# How often the operator looks for a finished batch when no event arrives to trigger it (each
# look is a timer: a call from the JVM). Events arriving look too, so this bounds only a lull.
POLL_MS = 5


class ScoreBatches(KeyedBatchFunction):
    entry_layout = SCORING_ENTRIES

    def __init__(self, config: PipelineConfig, job_name: str) -> None:
        job = config.inference_job
        super().__init__(
            job.max_batch_size,
            job.max_wait_ms,
            max_in_flight=job.batches_in_flight,
            poll_ms=POLL_MS,
            timeout_s=job.batch_timeout_ms / 1000,
        )
        self.config, self.job_name = config, job_name

    def open(self, runtime_context: RuntimeContext) -> None:
        super().open(runtime_context)
        job = self.config.inference_job
        self.feast = FeastClient.from_calls(job.feast)
        computed = self.config.features.realtime_view if job.realtime_features == "job" else None
        breaker = (
            CircuitBreaker(job.feast.breaker_failures, job.feast.breaker_cooldown_s)
            if job.feast.on_unavailable == "degrade"
            else None
        )
        self.enricher = Enricher(self.feast, self.config.features.service, job.cached_views, computed, breaker)
        self.metrics = ScoringMetrics(runtime_context.get_metrics_group(), self.enricher.cache_stats())
        self.degraded_reported = 0
        self.cache_reported: dict[str, tuple[int, int]] = {}
        self.scoring = BatchScoring(self.enricher, job.triton, self.config.model.name)
        self.scoring.open()
        self.model = ModelInfo(self.config.model.name, self.scoring.version, self.config.model.alert_threshold)

    def close(self) -> None:
        self.scoring.close()
        self.feast.close()

    def entry(self, value: Transaction | tuple[Transaction, dict[str, float]]) -> Entry:
        """(event, its computed real-time features or None, when it reached the operator)."""
        # The connector hands on a message's event time, not its publish time: the job's own
        # clock stamps when an event reached it; consumers read publish times from Pulsar.
        event, computed = value if isinstance(value, tuple) else (value, None)
        return event, computed, time.time() * 1000

    def start_batch(self, batch: list[Entry]) -> Future[ScoredBatch]:
        events = [event for event, _, _ in batch]
        computed = [features for _, features, _ in batch] if self.enricher.computed_view else None
        return self.scoring.submit(events, computed)

    def finish_batch(self, batch: list[Entry], result: ScoredBatch):
        defaults_used = not_finite = 0
        fired_counts: Counter[str] = Counter()
        scores, event_times_ms, received_ms_all = [], [], []
        for (event, _, received_ms), features, raw_score in zip(batch, result.enriched, result.scores, strict=True):
            score = float(raw_score)
            if not math.isfinite(score):  # JSON has no NaN or infinity, and no rule can judge one
                not_finite += 1
                reason = f"model output not finite: {score} ({self.model.name} version {self.model.version})"
                yield (
                    DEAD_LETTERS,
                    dead_letter(
                        to_json(event), reason, source_topic=self.config.topics.transactions, job=self.job_name
                    ),
                )
                continue
            record = prediction(event, received_ms, features, score, self.model, len(batch), result.times)
            defaults_used += features.missing
            yield orjson.dumps(record).decode()
            scores.append(score)
            event_times_ms.append(event.event_time_ms)
            received_ms_all.append(received_ms)
            fired = fired_rules(self.config.rules, score, event.amount)
            if fired:
                fired_counts.update(fired)
                yield ALERTS, alert(record, fired)
        self._record(batch, result, scores, event_times_ms, received_ms_all, fired_counts, defaults_used, not_finite)

    def _record(
        self,
        batch: list[Entry],
        result: ScoredBatch,
        scores: list[float],
        event_times_ms: list[int],
        received_ms: list[float],
        fired: Counter[str],
        defaults_used: int,
        not_finite: int,
    ) -> None:
        """The batch's metrics, once per batch: each update is a call into the JVM in thread mode."""
        metrics = self.metrics
        emitted_ms = time.time() * 1000
        metrics.predictions.inc(len(scores))
        metrics.defaults_used.inc(defaults_used)
        metrics.dead_lettered.inc(reason_kind("model output not finite"), not_finite)
        for rule, count in fired.items():
            metrics.alerts.inc(rule, count)
        metrics.batch_size.observe((len(batch),))
        metrics.score.observe(scores)
        metrics.end_to_end.observe([(emitted_ms - t) / 1000 for t in event_times_ms])
        metrics.in_job.observe([(emitted_ms - t) / 1000 for t in received_ms])
        for view, ages in feature_ages_s(result.enriched, emitted_ms / 1000).items():
            metrics.feature_age(view).observe(ages)
        metrics.feast.report(self.feast.stats)
        metrics.triton.report(self.scoring.client.stats)
        metrics.feast_degraded.inc(self.enricher.degraded_requests - self.degraded_reported)
        self.degraded_reported = self.enricher.degraded_requests
        self._count_cache_lookups()

    def _count_cache_lookups(self) -> None:
        """Adds the lookups since the last batch to the Flink counters (hit rate = hits / (hits + misses))."""
        for view, cache in self.enricher.cache_stats().items():
            reported_hits, reported_misses = self.cache_reported.get(view, (0, 0))
            self.metrics.cache_hits[view].inc(cache.hits - reported_hits)
            self.metrics.cache_misses[view].inc(cache.misses - reported_misses)
            self.cache_reported[view] = (cache.hits, cache.misses)
