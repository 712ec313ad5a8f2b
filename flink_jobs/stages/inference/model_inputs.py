"""Assembles a batch's model inputs: each event's request features and its enriched features,
one float32 column per input name, rows in the batch's order."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flink_jobs.events import Transaction
from flink_jobs.stages.enrich.enricher import Enriched
from flink_jobs.stages.inference.request_features import request_features


def model_inputs(events: Sequence[Transaction], enriched: Sequence[Enriched]) -> dict[str, np.ndarray]:
    rows = [
        {**request_features(e.amount, e.channel, e.merchant_country, e.card_country), **x.features}
        for e, x in zip(events, enriched, strict=True)
    ]
    return {name: np.array([row[name] for row in rows], np.float32) for name in rows[0]}
