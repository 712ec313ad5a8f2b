"""The prediction record: what the inference job writes to the predictions topic for every event."""

from __future__ import annotations

from dataclasses import dataclass

from flink_jobs.events import Transaction, iso_ms
from flink_jobs.stages.enrich.enricher import Enriched
from flink_jobs.stages.features.defaults import MISSING_FLAG


@dataclass(frozen=True)
class BatchTimes:
    """When the batch's stages started and ended, epoch seconds."""

    started: float
    enriched: float
    scored: float


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    alert_threshold: float  # `label` is score >= this


def prediction(
    event: Transaction,
    received_ms: float,
    features: Enriched,
    score: float,
    model: ModelInfo,
    batch_size: int,
    times: BatchTimes,
) -> dict[str, object]:
    return {
        "event_id": event.event_id,
        "card_id": event.card_id,
        "merchant_id": event.merchant_id,
        "amount": event.amount,
        "score": score,
        "label": score >= model.alert_threshold,
        "model": model.name,
        "model_version": model.version,
        MISSING_FLAG: features.missing,
        "feature_timestamps": features.feature_timestamps,
        "cached_views": list(features.cached_views),
        "event_time": iso_ms(event.event_time_ms),
        "received_at_ms": round(received_ms),
        "batch_size": batch_size,
        "wait_ms": round(times.started * 1000 - received_ms, 2),
        "enrich_ms": round((times.enriched - times.started) * 1000, 2),
        "infer_ms": round((times.scored - times.enriched) * 1000, 2),
        "scored_at_ms": round(times.scored * 1000),
    }
