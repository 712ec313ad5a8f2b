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
from datetime import UTC, datetime

import numpy as np
from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from flink_jobs.events import Transaction
from flink_jobs.feast_client import FeastClient
from flink_jobs.features.defaults import MISSING_FLAG
from flink_jobs.inference.enrichment import enrich
from flink_jobs.models.request_features import request_features
from flink_jobs.pipeline_config import PipelineConfig
from flink_jobs.triton_client import TritonClient

JOB_NAME = "inference-job"
ALERTS = OutputTag("alerts", Types.STRING())


def _iso(epoch_ms: float) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds")


class ScoreBatches(KeyedProcessFunction):
    def __init__(self, config: PipelineConfig) -> None:
        self.config = config

    def open(self, runtime_context: RuntimeContext) -> None:
        job = self.config.inference_job
        self.buffer = runtime_context.get_state(ValueStateDescriptor("waiting", Types.PICKLED_BYTE_ARRAY()))
        self.timer = runtime_context.get_state(ValueStateDescriptor("timer", Types.LONG()))
        metrics = runtime_context.get_metrics_group()
        self.predictions = metrics.counter("predictions")
        self.alerts = metrics.counter("alerts")
        self.defaults_used = metrics.counter("predictions_with_default_features")
        self.feast = FeastClient(
            job.feast.url, timeout_s=job.feast.timeout_s, retries=job.feast.retries, backoff_ms=job.feast.backoff_ms
        )
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

    def process_element(self, value: Transaction, ctx: KeyedProcessFunction.Context):
        # The connector hands on a message's event time, not its publish time: the job's own
        # clock stamps when an event reached it; consumers read publish times from Pulsar.
        waiting = self.buffer.value() or []
        waiting.append((value, time.time() * 1000))
        if len(waiting) >= self.config.inference_job.max_batch_size:
            yield from self._flush(waiting, ctx)
            return
        self.buffer.update(waiting)
        if self.timer.value() is None:
            deadline = ctx.timer_service().current_processing_time() + self.config.inference_job.max_wait_ms
            ctx.timer_service().register_processing_time_timer(deadline)
            self.timer.update(deadline)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        self.timer.clear()
        yield from self._flush(self.buffer.value() or [], ctx)

    def _flush(self, waiting: list[tuple[Transaction, float]], ctx: KeyedProcessFunction.Context):
        self.buffer.clear()
        pending_timer = self.timer.value()
        if pending_timer is not None:
            ctx.timer_service().delete_processing_time_timer(pending_timer)
            self.timer.clear()
        if not waiting:
            return
        events = [event for event, _ in waiting]
        started = time.time()
        enriched = enrich(self.feast, self.config.features.service, events)
        enriched_at = time.time()
        rows = [
            {**request_features(e.amount, e.channel, e.merchant_country, e.card_country), **x.features}
            for e, x in zip(events, enriched, strict=True)
        ]
        columns = {name: np.array([row[name] for row in rows], np.float32) for name in rows[0]}
        scores = self.loop.run_until_complete(self.triton.infer(columns))[self.output].reshape(-1)
        scored_at = time.time()
        for (event, received_ms), features, score in zip(waiting, enriched, scores, strict=True):
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
                "event_time": _iso(event.event_time_ms),
                "received_at": _iso(received_ms),
                "enrich_ms": round((enriched_at - started) * 1000, 2),
                "infer_ms": round((scored_at - enriched_at) * 1000, 2),
                "scored_at": _iso(scored_at * 1000),
            }
            self.predictions.inc()
            if features.missing:
                self.defaults_used.inc()
            yield json.dumps(prediction)
            fired = [rule.name for rule in self.config.rules if rule.fires(float(score), event.amount)]
            if fired:
                self.alerts.inc()
                yield ALERTS, json.dumps({**prediction, "rules": fired})
