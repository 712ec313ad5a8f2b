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
class Scored:
    """One event's score and what computed it."""

    score: float
    version: str  # the model version Triton's answer named
    infer_ms: float  # the Triton call that computed it
    canary: str = ""  # while a canary runs: "champion" or "candidate", the route the card takes
    champion_score: float | None = None  # a candidate's event: the champion's score beside it
    candidate_error: str = ""  # a candidate's event the champion scored instead: why


@dataclass(frozen=True)
class LatestScore:
    """A card's latest model score: the rate-bound path answers with it."""

    score: float
    event_id: str
    version: str


@dataclass(frozen=True)
class ModelInfo:
    name: str
    alert_threshold: float  # `label` is score >= this


def _scored(event: Transaction, score: float, model: ModelInfo, version: str, scoring: str) -> dict[str, object]:
    """The fields every prediction starts with: the event, its score and label, what scored it (`version`:
    the model version Triton's answer named)."""
    return {
        "event_id": event.event_id,
        "card_id": event.card_id,
        "merchant_id": event.merchant_id,
        "amount": event.amount,
        "score": score,
        "label": score >= model.alert_threshold,
        "model": model.name,
        "model_version": version,
        "scoring": scoring,
    }


def prediction(
    event: Transaction,
    received_ms: float,
    features: Enriched,
    scored: Scored,
    model: ModelInfo,
    batch_size: int,
    times: BatchTimes,
) -> dict[str, object]:
    record = {
        **_scored(event, scored.score, model, scored.version, "model"),
        MISSING_FLAG: features.missing,
        "feature_timestamps": features.feature_timestamps,
        "cached_views": list(features.cached_views),
        "event_time": iso_ms(event.event_time_ms),
        "received_at_ms": round(received_ms),
        "batch_size": batch_size,
        "wait_ms": round(times.started * 1000 - received_ms, 2),
        "enrich_ms": round((times.enriched - times.started) * 1000, 2),
        "infer_ms": round(scored.infer_ms, 2),
        "scored_at_ms": round(times.scored * 1000),
    }
    if scored.canary:
        record["canary"] = scored.canary
    if scored.champion_score is not None:
        record["champion_score"] = scored.champion_score
    if scored.candidate_error:
        record["candidate_error"] = scored.candidate_error
    return record


def rate_bound_prediction(
    event: Transaction, received_ms: float, latest: LatestScore, model: ModelInfo, now_ms: float
) -> dict[str, object]:
    """A transaction past its card's rate bound (config [inference_job.hot_keys]): no Feast or
    Triton call, the score of the card's latest transaction the model scored (`score_of`)."""
    return {
        **_scored(event, latest.score, model, latest.version, "rate_bound"),
        "score_of": latest.event_id,
        MISSING_FLAG: False,
        "feature_timestamps": {},
        "cached_views": [],
        "event_time": iso_ms(event.event_time_ms),
        "received_at_ms": round(received_ms),
        "batch_size": 0,
        "wait_ms": 0.0,
        "enrich_ms": 0.0,
        "infer_ms": 0.0,
        "scored_at_ms": round(now_ms),
    }
