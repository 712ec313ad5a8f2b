"""Long-window merchant statistics: daily snapshots computed from the transaction history."""

from datetime import timedelta

from entities import merchant
from feast import FeatureView, Field, FileSource
from feast.types import Float64, Int64

# Written by `rtai features backfill`; a row at T covers the merchant's transactions in [T - 7 days, T).
merchant_stats_source = FileSource(
    name="merchant_stats_source",
    path="data/merchant_stats.parquet",
    timestamp_field="event_timestamp",
)

merchant_stats = FeatureView(
    name="merchant_stats",
    entities=[merchant],
    ttl=timedelta(days=2),
    schema=[
        Field(name="merchant_txn_count_7d", dtype=Int64),
        Field(name="merchant_distinct_cards_7d", dtype=Int64),
        Field(name="merchant_foreign_card_share_7d", dtype=Float64),
    ],
    source=merchant_stats_source,
    online=True,
    tags={"owner": "fraud", "freshness": "daily"},
)
