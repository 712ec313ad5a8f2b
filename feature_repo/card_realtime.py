"""Real-time card features, computed by the Flink feature job and pushed through `/push`."""

from datetime import timedelta

from entities import card
from feast import FeatureView, Field, FileSource, PushSource
from feast.types import Float64, Int64

card_realtime_batch = FileSource(
    name="card_realtime_batch",
    path="data/card_realtime_features.parquet",
    timestamp_field="event_timestamp",
)

card_realtime_push = PushSource(name="card_realtime_push", batch_source=card_realtime_batch)

card_realtime = FeatureView(
    name="card_realtime",
    entities=[card],
    # A row holds the card's windows as of its last transaction; serving keeps it until the
    # next one, and so does training for as long as the ttl.
    ttl=timedelta(days=30),
    # Names and meaning: flink_jobs/stages/features/card_windows.py. A window is the transaction's
    # time bucket of width W / 60 and the 59 before it, the transaction itself included; distinct
    # merchants count at most 64; the first transaction of a card has seconds_since_prev_txn = -1
    # and amount_to_mean_ratio = 1.
    schema=[
        Field(name="txn_count_1m", dtype=Int64),
        Field(name="txn_count_10m", dtype=Int64),
        Field(name="txn_count_1h", dtype=Int64),
        Field(name="amount_sum_1m", dtype=Float64),
        Field(name="amount_sum_10m", dtype=Float64),
        Field(name="amount_sum_1h", dtype=Float64),
        Field(name="distinct_merchants_10m", dtype=Int64),
        Field(name="seconds_since_prev_txn", dtype=Float64),
        Field(name="amount_to_mean_ratio", dtype=Float64),
    ],
    source=card_realtime_push,
    online=True,
    tags={"owner": "fraud", "freshness": "streaming"},
)
