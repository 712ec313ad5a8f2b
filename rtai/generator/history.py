"""Days of past transactions into one Parquet file, an hour at a time, so memory stays bounded."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rtai.console import progress_bar
from rtai.generator import population, records, rhythm
from rtai.generator.model import TransactionModel

ROW_GROUP_ROWS = 250_000
_TIMES, _EVENTS = 1, 2  # seed streams of the history; 0 is the population's


@dataclass(frozen=True)
class HistoryReport:
    path: Path
    rows: int
    fraud_rows: int
    seconds: float

    @property
    def fraud_rate(self) -> float:
        return self.fraud_rows / self.rows if self.rows else 0.0


def write(path: Path, *, seed: int, end_ms: int, days: int, events_per_day: float, customers: int) -> HistoryReport:
    """The transactions of the `days` days before end_ms (exclusive), in time order; event ids `{seed:x}-{index}`.
    The same arguments write the same bytes."""
    started = time.monotonic()
    hours = days * 24
    first_hour_ms = end_ms - hours * rhythm.HOUR_MS
    times_rng = np.random.default_rng([seed, _TIMES])
    counts = times_rng.poisson(rhythm.expected_per_hour(first_hour_ms, hours, events_per_day))
    model = TransactionModel(population.build(seed, customers), np.random.default_rng([seed, _EVENTS]))
    model.warm_up(first_hour_ms, events_per_day / (rhythm.DAY_MS / 1000))
    path.parent.mkdir(parents=True, exist_ok=True)
    bar = progress_bar("generated", int(counts.sum()))
    fraud_rows = 0
    pending: list[pa.Table] = []
    pending_rows = 0
    with pq.ParquetWriter(path, records.SCHEMA) as writer:
        for hour, count in enumerate(counts):
            hour_ms = first_hour_ms + hour * rhythm.HOUR_MS
            batch = model.fill(np.sort(hour_ms + times_rng.integers(0, rhythm.HOUR_MS, count)))
            fraud_rows += int(batch.is_fraud.sum())
            pending.append(records.to_table(batch, f"{seed:x}"))
            pending_rows += count
            if pending_rows >= ROW_GROUP_ROWS or hour == hours - 1:
                writer.write_table(pa.concat_tables(pending), row_group_size=max(pending_rows, 1))
                pending, pending_rows = [], 0
            bar.update(count)
    bar.close()
    return HistoryReport(path, int(counts.sum()), fraud_rows, time.monotonic() - started)
