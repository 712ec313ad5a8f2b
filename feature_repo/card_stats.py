"""Long-window card statistics: daily snapshots computed from the transaction history."""

from datetime import timedelta

from entities import card
from feast import FeatureView, Field, FileSource
from feast.types import Float64, Int64

# Written by `rtai features backfill`; a row at T covers the card's transactions in [T - 30 days, T).
card_stats_source = FileSource(
    name="card_stats_source",
    path="data/card_stats.parquet",
    timestamp_field="event_timestamp",
)

card_stats = FeatureView(
    name="card_stats",
    entities=[card],
    ttl=timedelta(days=2),
    schema=[
        Field(name="card_txn_count_30d", dtype=Int64),
        Field(name="card_amount_mean_30d", dtype=Float64),
        Field(name="card_amount_std_30d", dtype=Float64),
        Field(name="card_foreign_txn_share_30d", dtype=Float64),
    ],
    source=card_stats_source,
    online=True,
    tags={"owner": "fraud", "freshness": "daily"},
)
