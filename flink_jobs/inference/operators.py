"""The inference job's batching operator: transactions in, predictions and alerts out.

PyFlink 1.20 has no Python AsyncFunction, so batching lives here: transactions wait in keyed
state (a checkpoint holds them) until max_batch_size are there or max_wait_ms has passed; then
one Feast request enriches the whole batch and the Triton client scores it in max-batch-size
chunks, several in flight. A Feast or Triton failure past its retry budget fails the job, and
Flink restarts it from the last checkpoint with the waiting transactions restored.
"""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
from pyflink.common import Types
from pyflink.datastream import OutputTag, RuntimeContext

from flink_jobs.events import Transaction, iso_ms
from flink_jobs.feast_client import FeastClient
from flink_jobs.features.defaults import MISSING_FLAG
from flink_jobs.inference.enrichment import Enricher
from flink_jobs.keyed_batches import KeyedBatchFunction
from flink_jobs.models.request_features import request_features
from flink_jobs.pipeline_config import PipelineConfig
from flink_jobs.triton_client import TritonClient

JOB_NAME = "inference-job"
ALERTS = OutputTag("alerts", Types.STRING())


class ScoreBatches(KeyedBatchFunction):
    def __init__(self, config: PipelineConfig) -> None:
        super().__init__(config.inference_job.max_batch_size, config.inference_job.max_wait_ms)
        self.config = config

    def open(self, runtime_context: RuntimeContext) -> None:
        super().open(runtime_context)
        job = self.config.inference_job
        metrics = runtime_context.get_metrics_group()
        self.predictions = metrics.counter("predictions")
        self.alerts = metrics.counter("alerts")
        self.defaults_used = metrics.counter("predictions_with_default_features")
        self.feast = FeastClient(
            job.feast.url, timeout_s=job.feast.timeout_s, retries=job.feast.retries, backoff_ms=job.feast.backoff_ms
        )
        self.enricher = Enricher(self.feast, self.config.features.service, job.cached_views)
        self.cache_metrics = {
            view: (
                metrics.add_group("view", view).counter("feature_cache_hits"),
                metrics.add_group("view", view).counter("feature_cache_misses"),
            )
            for view in self.enricher.cache_stats()
        }
        self.cache_reported: dict[str, tuple[int, int]] = {}
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)  # this operator's thread has none; the Triton client's channel lives here
        self.triton = TritonClient(
            job.triton.url,
            self.config.model.name,
            timeout_s=job.triton.timeout_s,
            retries=job.triton.retries,
            backoff_ms=job.triton.backoff_ms,
            max_in_flight=job.triton.max_in_flight,
        )
        signature = self.loop.run_until_complete(self.triton.connect())
        self.output, self.version = signature.outputs[0].name, signature.version

    def close(self) -> None:
        self.feast.close()
        self.loop.run_until_complete(self.triton.close())
        self.loop.close()

    def entry(self, value: Transaction) -> tuple[Transaction, float]:
        # The connector hands on a message's event time, not its publish time: the job's own
        # clock stamps when an event reached it; consumers read publish times from Pulsar.
        return value, time.time() * 1000

    def process_batch(self, batch: list[tuple[Transaction, float]]):
        events = [event for event, _ in batch]
        started = time.time()
        enriched = self.enricher.enrich(events)
        enriched_at = time.time()
        self._count_cache_lookups()
        rows = [
            {**request_features(e.amount, e.channel, e.merchant_country, e.card_country), **x.features}
            for e, x in zip(events, enriched, strict=True)
        ]
        columns = {name: np.array([row[name] for row in rows], np.float32) for name in rows[0]}
        scores = self.loop.run_until_complete(self.triton.infer(columns))[self.output].reshape(-1)
        scored_at = time.time()
        for (event, received_ms), features, score in zip(batch, enriched, scores, strict=True):
            prediction = {
                "event_id": event.event_id,
                "card_id": event.card_id,
                "merchant_id": event.merchant_id,
                "amount": event.amount,
                "score": float(score),
                "label": bool(score >= self.config.model.alert_threshold),
                "model": self.config.model.name,
                "model_version": self.version,
                MISSING_FLAG: features.missing,
                "feature_timestamps": features.feature_timestamps,
                "cached_views": list(features.cached_views),
                "event_time": iso_ms(event.event_time_ms),
                "received_at": iso_ms(received_ms),
                "batch_size": len(batch),
                "wait_ms": round(started * 1000 - received_ms, 2),
                "enrich_ms": round((enriched_at - started) * 1000, 2),
                "infer_ms": round((scored_at - enriched_at) * 1000, 2),
                "scored_at": iso_ms(scored_at * 1000),
            }
            self.predictions.inc()
            if features.missing:
                self.defaults_used.inc()
            yield json.dumps(prediction)
            fired = [rule.name for rule in self.config.rules if rule.fires(float(score), event.amount)]
            if fired:
                self.alerts.inc()
                yield ALERTS, json.dumps({**prediction, "rules": fired})

    def _count_cache_lookups(self) -> None:
        """Adds the lookups since the last batch to the Flink counters (hit rate = hits / (hits + misses))."""
        for view, cache in self.enricher.cache_stats().items():
            hits, misses = self.cache_metrics[view]
            reported_hits, reported_misses = self.cache_reported.get(view, (0, 0))
            hits.inc(cache.hits - reported_hits)
            misses.inc(cache.misses - reported_misses)
            self.cache_reported[view] = (cache.hits, cache.misses)
