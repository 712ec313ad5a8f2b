"""Enrichment: the FeatureService's online features for a batch of transactions, in one request.

Keys are de-duplicated within the batch ((card, merchant) pairs). A feature Feast has no value
for (NOT_FOUND, or a null, as Redis answers) gets the documented default
(flink_jobs/features/defaults.py) and the row is flagged `features_missing`.
"""

from __future__ import annotations

from dataclasses import dataclass

from flink_jobs.events import Transaction
from flink_jobs.feast_client import FeastClient
from flink_jobs.features.defaults import default

JOIN_KEYS = ("card_id", "merchant_id")


@dataclass(frozen=True)
class Enriched:
    features: dict[str, float]  # feature name (without its view) -> value
    missing: bool
    feature_timestamps: dict[str, str]  # view -> the newest timestamp of its features for this row


def enrich(feast: FeastClient, feature_service: str, events: list[Transaction]) -> list[Enriched]:
    pairs = sorted({(e.card_id, e.merchant_id) for e in events})
    columns = feast.online_features(
        {"card_id": [c for c, _ in pairs], "merchant_id": [m for _, m in pairs]},
        feature_service=feature_service,
        full_feature_names=True,
    )
    by_pair: dict[tuple[int, int], Enriched] = {}
    for row, pair in enumerate(pairs):
        features, stamps, missing = {}, {}, False
        for full_name, column in columns.items():
            if full_name in JOIN_KEYS:
                continue
            view, _, name = full_name.partition("__")
            value = column.values[row]
            if column.statuses[row] != "PRESENT" or value is None:
                value, missing = default(name), True
            else:
                stamps[view] = max(stamps.get(view, ""), column.event_timestamps[row])
            features[name] = float(value)
        by_pair[pair] = Enriched(features, missing, stamps)
    return [by_pair[(e.card_id, e.merchant_id)] for e in events]
