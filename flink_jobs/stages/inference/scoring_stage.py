"""The inference job's scoring stage, whichever operator runs it: a batch of (event, its
computed real-time features, when it reached the job) enriched and scored (BatchScoring), then
its outputs, each a (kind, JSON text) pair: a prediction for every event, an alert for each one
a rule selects, a dead letter for a score that is not a finite number; the batch's metrics once
per batch.

With a rate bound (`[inference_job.hot_keys]`), a card past it in its last minute (a card-testing
burst, a placeholder id) is answered at once with its latest model score, its prediction marked
`"scoring": "rate_bound"`: no Feast or Triton call, so a hot card costs the others little beyond
its own parse and window update; its alerts come once per `alert_every_s` of event time, each
counting those held back since the one before (RepeatedAlerts). A card with no model score yet
in this run (a new card, or after a restart) is scored by the model, as are all cards below the
bound.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import replace

import orjson
from pyflink.metrics import MetricGroup

from flink_jobs.clients.circuit_breaker import CircuitBreaker
from flink_jobs.clients.feast_client import FeastClient
from flink_jobs.config.pipeline_config import PipelineConfig
from flink_jobs.events import Transaction, to_json
from flink_jobs.long_lived_objects import collect_rarely, freeze_what_is_held
from flink_jobs.metrics import ScoringMetrics, VersionBatch, reason_kind
from flink_jobs.stages.enrich.batch_view_loader import BatchViewLoader
from flink_jobs.stages.enrich.enricher import Enricher, feature_ages_s
from flink_jobs.stages.features.card_windows import EVENTS_PER_MINUTE
from flink_jobs.stages.inference.infer import BatchScoring, ScoredBatch
from flink_jobs.stages.output.alerts import RepeatedAlerts, alert, fired_rules
from flink_jobs.stages.output.dead_letters import dead_letter
from flink_jobs.stages.output.predictions import LatestScore, ModelInfo, Scored, prediction, rate_bound_prediction
from flink_jobs.stages.output.shadow_scores import shadow_score
from flink_jobs.state_layout import Entry

PREDICTION, ALERT, DEAD_LETTER, SHADOW = "prediction", "alert", "dead_letter", "shadow"
Output = tuple[str, str]  # (kind, JSON text)
LATEST_SCORES = 100_000  # cards whose latest model score the rate-bound path can reuse, per subtask
RATE_BOUND_REPORT_EVERY = 256  # rate-bound predictions between two updates of their counters


class ScoringStage:
    def __init__(self, config: PipelineConfig, job_name: str) -> None:
        self.config, self.job_name = config, job_name

    def open(self, metric_group: MetricGroup) -> None:
        job = self.config.inference_job
        sys.setswitchinterval(job.python_switch_interval_ms / 1000)  # the process's, for all its threads
        collect_rarely()
        self.feast = FeastClient.from_calls(job.feast)
        computed = self.config.features.realtime_view if job.realtime_features == "job" else None
        breaker = (
            CircuitBreaker(job.feast.breaker_failures, job.feast.breaker_cooldown_s)
            if job.feast.on_unavailable == "degrade"
            else None
        )
        self.enricher = Enricher(self.feast, self.config.features.service, job.cached_views, computed, breaker)
        # One attempt per load: the renewal is its own retry, and a Feast down at start must not
        # hold the stage's open for the scoring calls' retries.
        self.view_loads = FeastClient.from_calls(replace(job.feast, retries=0))
        self.batch_views = BatchViewLoader(self.enricher, job.cached_views, self.view_loads)
        self.batch_views.load()
        freeze_what_is_held()  # the modules, the clients and the views just loaded
        self.batch_views.start_renewing()
        self.metrics = ScoringMetrics(metric_group, self.enricher.cache_stats())
        self.degraded_reported = 0
        self.cache_reported: dict[str, tuple[int, int]] = {}
        self.scoring = BatchScoring(self.enricher, job, self.config.model)
        self.scoring.open()
        self.model = ModelInfo(self.config.model.name, self.config.model.alert_threshold)
        self.rate_bound = job.hot_keys.max_events_per_minute
        # An OrderedDict, not cachetools' LRUCache: 0.38 against 1.8 us a store, one per scored event.
        self.latest_scores: OrderedDict[int, LatestScore] = OrderedDict()
        self.repeated_alerts = RepeatedAlerts(job.hot_keys.alert_every_s * 1000, LATEST_SCORES)
        self.unreported: Counter[str] = Counter()  # the rate-bound path's counts, reported in groups

    def close(self) -> None:
        self.batch_views.close()
        self.scoring.close()
        self.feast.close()
        self.view_loads.close()

    def latest_score(self, event: Transaction, computed: dict[str, float] | None) -> LatestScore | None:
        """The card's latest model score and its event, when this event is past its card's rate bound."""
        if not self.rate_bound or computed is None or computed[EVENTS_PER_MINUTE] <= self.rate_bound:
            return None
        return self.latest_scores.get(event.card_id)

    def past_rate_bound(
        self, event: Transaction, events_per_minute: float, received_ms: float, latest: LatestScore
    ) -> Iterator[Output]:
        record = rate_bound_prediction(event, received_ms, latest, self.model, time.time() * 1000)
        yield PREDICTION, orjson.dumps(record).decode()
        fired = fired_rules(self.config.rules, latest.score, event.amount, events_per_minute)
        if fired:
            held_back = self.repeated_alerts.due(event.card_id, event.event_time_ms)
            if held_back is None:
                self.unreported["held_back"] += 1
            else:
                self.unreported.update(fired)
                yield ALERT, alert({**record, "alerts_held_back": held_back}, fired)
        self.unreported["predictions"] += 1
        if self.unreported["predictions"] >= RATE_BOUND_REPORT_EVERY:
            self._report_rate_bound()

    def _report_rate_bound(self) -> None:
        predictions = self.unreported.pop("predictions", 0)
        self.metrics.predictions.inc(predictions)
        self.metrics.rate_bound.inc(predictions)
        self.metrics.alerts_held_back.inc(self.unreported.pop("held_back", 0))
        for rule, count in self.unreported.items():
            self.metrics.alerts.inc(rule, count)
        self.unreported.clear()

    def _remember(self, card: int, latest: LatestScore) -> None:
        self.latest_scores[card] = latest
        self.latest_scores.move_to_end(card)
        if len(self.latest_scores) > LATEST_SCORES:
            self.latest_scores.popitem(last=False)

    def submit(self, batch: list[Entry]) -> Future[ScoredBatch]:
        """Starts the batch's enrichment and scoring off the caller's thread."""
        return self.scoring.submit(*self._request(batch))

    async def score(self, batch: list[Entry]) -> ScoredBatch:
        """The batch enriched and scored, on the scoring loop's thread (`scoring_loop`)."""
        return await self.scoring.score(*self._request(batch))

    @property
    def scoring_loop(self) -> asyncio.AbstractEventLoop:
        return self.scoring.loop

    def _request(self, batch: list[Entry]) -> tuple[list[Transaction], list[dict[str, float]] | None]:
        events = [event for event, _, _ in batch]
        computed = [features for _, features, _ in batch] if self.enricher.computed_view else None
        return events, computed

    def scored(self, batch: list[Entry], result: ScoredBatch) -> Iterator[Output]:
        """The outputs of a scored batch, in its order."""
        defaults_used = not_finite = 0
        fired_counts: Counter[str] = Counter()
        by_version: defaultdict[str, VersionBatch] = defaultdict(VersionBatch)
        scores, event_times_ms, received_ms_all = [], [], []
        values, versions, infer_ms = result.scores.values, result.scores.versions, result.scores.infer_ms
        served: list[Scored | None] = [None] * len(batch)
        for i, ((event, _, received_ms), features) in enumerate(zip(batch, result.enriched, strict=True)):
            score, version = float(values[i]), versions[i]
            if not math.isfinite(score):  # JSON has no NaN or infinity, and no rule can judge one
                not_finite += 1
                reason = f"model output not finite: {score} ({self.model.name} version {version})"
                yield (
                    DEAD_LETTER,
                    dead_letter(
                        to_json(event), reason, source_topic=self.config.topics.transactions, job=self.job_name
                    ),
                )
                continue
            route = result.routes[i]
            scored = Scored(
                score,
                version,
                float(infer_ms[i]),
                route,
                float(result.champion_scores[i]) if route == "candidate" else None,
                result.candidate_errors.get(i, ""),
            )
            record = prediction(event, received_ms, features, scored, self.model, len(batch), result.times)
            served[i] = scored
            seen = by_version[version]
            seen.scores.append(score)
            seen.infer_s.append(scored.infer_ms / 1000)
            if scored.candidate_error:
                by_version[str(self.config.model.canary.candidate_version)].candidate_errors += 1
            defaults_used += features.missing
            yield PREDICTION, orjson.dumps(record).decode()
            scores.append(score)
            event_times_ms.append(event.event_time_ms)
            received_ms_all.append(received_ms)
            if self.rate_bound:
                self._remember(event.card_id, LatestScore(score, event.event_id, version))
            fired = fired_rules(self.config.rules, score, event.amount, features.features.get(EVENTS_PER_MINUTE, 0.0))
            if fired:
                fired_counts.update(fired)
                seen.alerts += 1
                yield ALERT, alert(record, fired)
        self.metrics.record_versions(by_version)
        if result.shadow is not None or result.shadow_error:
            yield from self._shadow_scores(batch, result, served)
        self._record(batch, result, scores, event_times_ms, received_ms_all, fired_counts, defaults_used, not_finite)

    def _shadow_scores(self, batch: list[Entry], result: ScoredBatch, served: list[Scored | None]) -> Iterator[Output]:
        """The shadow version's score of every event the model scored, and its metrics."""
        shadow = result.shadow
        if shadow is None:
            self.metrics.shadow.record(0, [], [], len(batch))
            return
        agreements = errors = 0
        differences, infer_s = [], []
        for (event, _, _), answer, value, version, ms in zip(
            batch, served, shadow.values, shadow.versions, shadow.infer_ms, strict=True
        ):
            if answer is None:
                continue
            if not math.isfinite(value):
                errors += 1
                continue
            scored = Scored(float(value), version, float(ms))
            text = shadow_score(event, self.model, scored, answer)
            agreements += (scored.score >= self.model.alert_threshold) == (answer.score >= self.model.alert_threshold)
            differences.append(abs(scored.score - answer.score))
            infer_s.append(scored.infer_ms / 1000)
            yield SHADOW, text
        self.metrics.shadow.record(agreements, differences, infer_s, errors)

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
        if self.unreported:
            self._report_rate_bound()
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
