"""A card's real-time state against its history: n transactions of one card within 30 s (all in
every window), then the time of the next one's update as the jobs do it (decode the state, add
the transaction, encode the state), median of `repeats` rounds of `updates` each, one thread."""

from __future__ import annotations

import statistics
import time

from flink_jobs.stages.features.card_windows import CardHistory
from flink_jobs.state_layout import decode_history, encode_history

from . import report

START_MS = 1_790_000_000_000
SPACING_MS = 3


def update_us(history_length: int, updates: int, repeats: int) -> dict[str, float]:
    history = CardHistory()
    for i in range(history_length):
        history.add(START_MS + i * SPACING_MS, 1.0, i % 1000)
    raw = encode_history(history)
    at = START_MS + history_length * SPACING_MS
    rounds = []
    for _ in range(repeats):
        began = time.perf_counter()
        for _ in range(updates):
            card = decode_history(raw)
            card.add(at, 1.0, 5)
            encode_history(card)
        rounds.append((time.perf_counter() - began) / updates * 1e6)
    return {"update_us": round(statistics.median(rounds), 1), "state_bytes": len(raw)}


def run(lengths: list[int], updates: int, repeats: int) -> None:
    figures = {str(n): update_us(n, updates, repeats) for n in lengths}
    for n, f in figures.items():
        print(
            f"{int(n):>7,} transactions in the windows: {f['update_us']:>8.1f} us per update, "
            f"state {f['state_bytes']:,} B"
        )
    path = report.write("card-state", {"updates": updates, "repeats": repeats, "by_history_length": figures})
    print(f"written to {path}")
