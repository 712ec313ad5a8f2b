"""Per-card sliding features over event time, computed one transaction at a time, in bounded
state and bounded work per transaction whatever the card's history.

Each window of length W is kept as time buckets of width W / BUCKETS_PER_WINDOW (count and sum
of amounts). For a transaction at event time t, the window is t's own bucket and the
BUCKETS_PER_WINDOW - 1 before it: it covers between W - W/60 and W of time before t, the
transaction itself included (1 s of slack for the 1-minute window, 60 s for the hour). Distinct
merchants are the merchants last seen within the 10 minutes (t - 10 min, t], at most
MAX_MERCHANTS of them (a card-testing burst across more merchants reads as that maximum); the
mean is a running count and sum. So a card holds at most 3 x 60 buckets and 64 merchants, and a
burst of n transactions of one card costs n times a constant, not n² / 2.

The Flink operators keep one CardHistory per card in keyed state; the backfill that makes the
training set runs this same code in event-time order, so training and serving agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WINDOWS_S = {"1m": 60, "10m": 600, "1h": 3600}
BUCKETS_PER_WINDOW = 60
DISTINCT_MERCHANTS_WINDOW_S = 600
MAX_MERCHANTS = 64

FEATURE_NAMES = (
    *(f"txn_count_{name}" for name in WINDOWS_S),
    *(f"amount_sum_{name}" for name in WINDOWS_S),
    "distinct_merchants_10m",
    "seconds_since_prev_txn",
    "amount_to_mean_ratio",
)
EVENTS_PER_MINUTE = "txn_count_1m"  # the card's velocity, as the rate bound and the velocity rules read it
BUCKET_MS = {name: seconds * 1000 // BUCKETS_PER_WINDOW for name, seconds in WINDOWS_S.items()}


@dataclass
class CardHistory:
    """What one card's features need, bounded: per window its buckets (bucket index -> [count,
    amount sum]), the merchants' last times, and the running amount statistics."""

    buckets: dict[str, dict[int, list]] = field(default_factory=lambda: {name: {} for name in WINDOWS_S})
    merchants: dict[int, int] = field(default_factory=dict)  # merchant id -> its latest time ms
    amount_count: int = 0
    amount_sum: float = 0.0
    last_time_ms: int | None = None
    newest_ms: int | None = None  # the latest event time seen: buckets and merchants before its windows go

    def add(self, time_ms: int, amount: float, merchant_id: int) -> dict[str, float | int]:
        """The features as of this transaction, then the transaction becomes part of the history."""
        features: dict[str, float | int] = {}
        for name, width in BUCKET_MS.items():
            buckets = self.buckets[name]
            index = time_ms // width
            bucket = buckets.get(index)
            if bucket is None:
                buckets[index] = [1, amount]
            else:
                bucket[0] += 1
                bucket[1] += amount
            first = index - BUCKETS_PER_WINDOW
            count, total = 0, 0.0
            for i, (n, amounts) in buckets.items():
                if i > first:
                    count += n
                    total += amounts
            features[f"txn_count_{name}"] = count
            features[f"amount_sum_{name}"] = round(total, 2)
        seen = self.merchants.get(merchant_id)
        if seen is None or seen < time_ms:
            self.merchants[merchant_id] = time_ms
        merchant_start = time_ms - DISTINCT_MERCHANTS_WINDOW_S * 1000
        distinct = sum(1 for t in self.merchants.values() if t > merchant_start)
        features["distinct_merchants_10m"] = min(distinct, MAX_MERCHANTS)
        # The first transaction of a card has no predecessor and nothing to compare with:
        # -1 seconds and a ratio of 1.0, documented defaults the model learns as such.
        features["seconds_since_prev_txn"] = (
            -1.0 if self.last_time_ms is None else (time_ms - self.last_time_ms) / 1000.0
        )
        features["amount_to_mean_ratio"] = (
            1.0 if self.amount_count == 0 else round(amount / (self.amount_sum / self.amount_count), 6)
        )
        self.amount_count += 1
        self.amount_sum += amount
        self.last_time_ms = time_ms
        if self.newest_ms is None or time_ms > self.newest_ms:
            self.newest_ms = time_ms
        self._forget_the_past()
        return features

    def _forget_the_past(self) -> None:
        """Drops the buckets and merchants no window of the newest transaction reaches."""
        newest = self.newest_ms
        assert newest is not None
        for name, width in BUCKET_MS.items():
            buckets = self.buckets[name]
            first = newest // width - BUCKETS_PER_WINDOW
            for index in [i for i in buckets if i <= first]:
                del buckets[index]
        merchants = self.merchants
        horizon = newest - DISTINCT_MERCHANTS_WINDOW_S * 1000
        for merchant in [m for m, t in merchants.items() if t <= horizon]:
            del merchants[merchant]
        while len(merchants) > MAX_MERCHANTS:
            del merchants[min(merchants, key=merchants.__getitem__)]
