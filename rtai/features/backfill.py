"""The feature repository's offline tables, computed from the transaction history.

- the card and merchant statistics of the batch feature views (batch_stats);
- the real-time card features of every past transaction, computed by the same CardHistory
  the feature job runs, in the same order (event time, then event id), into the file behind
  the push source. Training then reads the values the job would have pushed; rows the job
  pushed after the history's end are kept;
- each card's history at the end (history_seed.py), where a job starts a card it holds no state for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flink_jobs.stages.features import history_seed
from flink_jobs.stages.features.card_windows import FEATURE_NAMES, CardHistory
from rtai.console import progress_bar
from rtai.features import batch_stats

# Paths inside the feature repository, as its FileSources name them.
CARD_STATS_FILE = "data/card_stats.parquet"
MERCHANT_STATS_FILE = "data/merchant_stats.parquet"
CARD_REALTIME_FILE = "data/card_realtime_features.parquet"
PROGRESS_EVERY = 50_000


@dataclass(frozen=True)
class BackfillReport:
    rows: dict[str, int]  # file -> rows written
    seconds: float


def read_history(path: Path) -> pd.DataFrame:
    columns = [*batch_stats.HISTORY_COLUMNS, "event_id"]
    history = pd.read_parquet(path, columns=columns)
    return history.sort_values("event_timestamp", kind="stable", ignore_index=True)


def card_realtime(history: pd.DataFrame) -> pd.DataFrame:
    """The feature job's output for every transaction of the history."""
    return replayed(history)[0]


def replayed(history: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, CardHistory]]:
    """The feature job's output for every transaction of the history, and each card's history at its end."""
    ordered = history.assign(ms=history["event_timestamp"].astype("int64") // 10**6)
    ordered = ordered.sort_values(["card_id", "ms", "event_id"], kind="stable", ignore_index=True)
    bar = progress_bar("real-time features", len(ordered))
    columns: dict[str, list] = {name: [] for name in FEATURE_NAMES}
    history_of: dict[int, CardHistory] = {}
    cards, times, amounts, merchants = (ordered[c].to_numpy() for c in ("card_id", "ms", "amount", "merchant_id"))
    for i in range(len(ordered)):
        card = int(cards[i])
        features = history_of.setdefault(card, CardHistory()).add(int(times[i]), float(amounts[i]), int(merchants[i]))
        for name in FEATURE_NAMES:
            columns[name].append(features[name])
        if i % PROGRESS_EVERY == PROGRESS_EVERY - 1:
            bar.update(PROGRESS_EVERY)
    bar.update(len(ordered) % PROGRESS_EVERY)
    bar.close()
    stamps = ordered["event_timestamp"].astype("datetime64[us, UTC]")
    return pd.DataFrame({"card_id": ordered["card_id"], "event_timestamp": stamps, **columns}), history_of


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    temporary = path.with_suffix(".tmp")
    pq.write_table(table, temporary)
    temporary.replace(path)


def _with_later_pushes(backfill: pd.DataFrame, push_file: Path, history_end: pd.Timestamp) -> pd.DataFrame:
    """The backfill plus what the feature job pushed to the offline store after the history ends."""
    if not push_file.exists():
        return backfill
    pushed = pd.read_parquet(push_file)
    later = pushed[pushed["event_timestamp"] > history_end]
    return pd.concat([backfill, later[backfill.columns].astype(backfill.dtypes)], ignore_index=True)


def write_offline_tables(history_path: Path, repo: Path) -> BackfillReport:
    started = time.monotonic()
    history = read_history(history_path)
    card = batch_stats.card_stats(history)
    merchant = batch_stats.merchant_stats(history)
    realtime, histories = replayed(history)
    realtime = _with_later_pushes(realtime, repo / CARD_REALTIME_FILE, history["event_timestamp"].max())
    tables = {CARD_STATS_FILE: card, MERCHANT_STATS_FILE: merchant, CARD_REALTIME_FILE: realtime}
    for name, frame in tables.items():
        _write(frame, repo / name)
    rows = {name: len(frame) for name, frame in tables.items()}
    rows[history_seed.SEED_FILE] = history_seed.write(histories, repo / history_seed.SEED_FILE)
    return BackfillReport(rows, time.monotonic() - started)
