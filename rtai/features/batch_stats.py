"""Long-window card and merchant statistics from the transaction history, as daily snapshots.

A snapshot at time T summarises the transactions in [T - window, T): it only uses what
had happened by T, and its `event_timestamp` is T, so Feast's point-in-time join never
hands a training row a statistic that includes its own or any later transaction.
Snapshots are taken at every UTC midnight inside the history and at its end; the first
ones cover less than a full window (the history starts there).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from pandas.core.groupby import DataFrameGroupBy

DAY = pd.Timedelta(days=1)
CARD_WINDOW = pd.Timedelta(days=30)
MERCHANT_WINDOW = pd.Timedelta(days=7)

CARD_STATS = ("card_txn_count_30d", "card_amount_mean_30d", "card_amount_std_30d", "card_foreign_txn_share_30d")
MERCHANT_STATS = ("merchant_txn_count_7d", "merchant_distinct_cards_7d", "merchant_foreign_card_share_7d")
HISTORY_COLUMNS = ("event_timestamp", "card_id", "merchant_id", "amount", "merchant_country", "card_country")


def snapshot_times(history: pd.DataFrame) -> list[pd.Timestamp]:
    """Every UTC midnight after the first transaction, up to the last one, and the end of the history."""
    first, last = history["event_timestamp"].min(), history["event_timestamp"].max()
    times = list(pd.date_range(first.floor("D") + DAY, last, freq="D"))
    end = last + pd.Timedelta(milliseconds=1)  # the last snapshot includes the last transaction
    return [*times, end] if not times or times[-1] < end else times


def _window(history: pd.DataFrame, at: pd.Timestamp, length: pd.Timedelta) -> pd.DataFrame:
    """The rows in [at - length, at); `history` is sorted by event_timestamp."""
    times = history["event_timestamp"]
    return history.iloc[times.searchsorted(at - length) : times.searchsorted(at)]


def _snapshots(
    history: pd.DataFrame, key: str, window: pd.Timedelta, aggregate: Callable[[DataFrameGroupBy], dict[str, pd.Series]]
) -> pd.DataFrame:
    """`aggregate` of each key's rows in every snapshot's window, one row per key and snapshot."""
    snapshots = []
    for at in snapshot_times(history):
        rows = _window(history, at, window)
        grouped = rows.assign(foreign=rows["merchant_country"] != rows["card_country"]).groupby(key)
        snapshots.append(pd.DataFrame(aggregate(grouped)).reset_index().assign(event_timestamp=at))
    return pd.concat(snapshots, ignore_index=True)


def card_stats(history: pd.DataFrame) -> pd.DataFrame:
    def aggregate(grouped: DataFrameGroupBy) -> dict[str, pd.Series]:
        return {
            "card_txn_count_30d": grouped.size(),
            "card_amount_mean_30d": grouped["amount"].mean(),
            "card_amount_std_30d": grouped["amount"].std(ddof=0),
            "card_foreign_txn_share_30d": grouped["foreign"].mean(),
        }

    return _snapshots(history, "card_id", CARD_WINDOW, aggregate)[["card_id", "event_timestamp", *CARD_STATS]]


def merchant_stats(history: pd.DataFrame) -> pd.DataFrame:
    def aggregate(grouped: DataFrameGroupBy) -> dict[str, pd.Series]:
        return {
            "merchant_txn_count_7d": grouped.size(),
            "merchant_distinct_cards_7d": grouped["card_id"].nunique(),
            "merchant_foreign_card_share_7d": grouped["foreign"].mean(),
        }

    snapshots = _snapshots(history, "merchant_id", MERCHANT_WINDOW, aggregate)
    return snapshots[["merchant_id", "event_timestamp", *MERCHANT_STATS]]
