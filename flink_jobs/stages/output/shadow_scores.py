"""Shadow scores: a shadow version's score of an event beside the one the predictions topic got
(`served_*`), for the shadow-scores topic only."""

from __future__ import annotations

import orjson
from pyflink.common import Types
from pyflink.datastream import OutputTag

from flink_jobs.events import Transaction, iso_ms
from flink_jobs.stages.output.predictions import ModelInfo, Scored

SHADOW_SCORES = OutputTag("shadow-scores", Types.STRING())


def shadow_score(event: Transaction, model: ModelInfo, shadow: Scored, served: Scored) -> str:
    shadow_label, served_label = shadow.score >= model.alert_threshold, served.score >= model.alert_threshold
    return orjson.dumps(
        {
            "event_id": event.event_id,
            "card_id": event.card_id,
            "event_time": iso_ms(event.event_time_ms),
            "model": model.name,
            "model_version": shadow.version,
            "score": shadow.score,
            "label": shadow_label,
            "served_version": served.version,
            "served_score": served.score,
            "served_label": served_label,
            "agrees": shadow_label == served_label,
            "score_difference": shadow.score - served.score,
            "infer_ms": round(shadow.infer_ms, 2),
        }
    ).decode()
