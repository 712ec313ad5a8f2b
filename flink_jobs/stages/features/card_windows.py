"""Per-card sliding features over event time, computed one transaction at a time.

For a transaction at event time t, a window of length W holds the card's
transactions with time in (t - W, t], the transaction itself included. The
Flink operator keeps one CardHistory per card in keyed state and feeds it
transactions in event-time order (it holds them back until the watermark has
passed), so the result is the same as a batch computation over the same events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WINDOWS_S = {"1m": 60, "10m": 600, "1h": 3600}
DISTINCT_MERCHANTS_WINDOW_S = 600
HISTORY_S = max(WINDOWS_S.values())

FEATURE_NAMES = (
    *(f"txn_count_{name}" for name in WINDOWS_S),
    *(f"amount_sum_{name}" for name in WINDOWS_S),
    "distinct_merchants_10m",
    "seconds_since_prev_txn",
    "amount_to_mean_ratio",
)


@dataclass
class CardHistory:
    """What one card's features need: its recent transactions and its running amount statistics."""

    recent: list[tuple[int, float, int]] = field(default_factory=list)  # (time ms, amount, merchant), ascending
    amount_count: int = 0
    amount_sum: float = 0.0
    last_time_ms: int | None = None

    def add(self, time_ms: int, amount: float, merchant_id: int) -> dict[str, float | int]:
        """The features as of this transaction, then the transaction becomes part of the history."""
        self.recent.append((time_ms, amount, merchant_id))
        horizon = time_ms - HISTORY_S * 1000
        self.recent = [item for item in self.recent if item[0] > horizon]
        features: dict[str, float | int] = {}
        for name, seconds in WINDOWS_S.items():
            start = time_ms - seconds * 1000
            in_window = [amt for t, amt, _ in self.recent if t > start]
            features[f"txn_count_{name}"] = len(in_window)
            features[f"amount_sum_{name}"] = round(sum(in_window), 2)
        merchant_start = time_ms - DISTINCT_MERCHANTS_WINDOW_S * 1000
        features["distinct_merchants_10m"] = len({m for t, _, m in self.recent if t > merchant_start})
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
        return features
