"""The interpreter's cyclic collector for a scorer that holds many long-lived objects (the batch
views in memory, each card's latest score, its history): a full collection scans all of them and
holds the interpreter lock meanwhile. In the inference job one took 181 ms over 236,519 objects
at 1,000 events/s, and the ~300 events behind it set the run's p99 (bench/README.md: the job's
tail at 1,000/s); in the scoring API they held the event loop 70-140 ms every 2 s or so.
With the thresholds below and what the job holds frozen once its views are loaded, its p99 at
1,000/s was 57 (54-86) ms against 77 (76-81), and 72 (65-73) against 94 (86-106) in a second
set, three interleaved runs each (bench/README.md); in a 5-minute run the job made one full
collection after its start-up, of 51 ms. Renewed view rows are new objects and reach the oldest
generation again, so full collections grow back over time, if more slowly.
"""

from __future__ import annotations

import gc

# Full collections ten times rarer than the interpreter's default (700, 10, 10).
GC_THRESHOLDS = (700, 10, 100)


def collect_rarely() -> None:
    """The process's thresholds (its one interpreter: every Python operator of a TaskManager in
    thread mode)."""
    gc.set_threshold(*GC_THRESHOLDS)


def freeze_what_is_held() -> None:
    """Collects once, then moves every object left out of all later collections: call it when a
    process has loaded what it holds for its lifetime (a scorer's views, a load generator's
    requests), before it serves or sends."""
    gc.collect()
    gc.freeze()
