"""The batch views in memory: every key of each cached view with a `keys_file` loaded from Feast
when a scorer starts (the inference job's scoring stage, the scoring API), then renewed by a
thread of its own a chunk at a time, spread over ttl_s / 2, so an entry does not expire and a
batch waits for Feast only for a key the file does not hold (an entity newer than the file).

Loaded on a miss instead, a card's first transaction, and the first after its entry expired,
waited for a Feast round trip: in the scoring API at 500 requests/s that wait was most of the
handler's p50 (6 ms, against 0.4 ms with the views in memory; bench/README.md). Renewed all at
once, the parsing of Feast's answers held the interpreter lock in bursts (the API's p99 at 500/s
38-47 ms with a renewal every 5 s); spread out, the fraud pipeline's ~28,000 keys at ttl_s = 300
cost about 190 keys a second.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flink_jobs.clients.feast_client import FeastClient, FeastUnavailable
from flink_jobs.config.pipeline_config import CachedView
from flink_jobs.stages.enrich.enricher import Enricher

log = logging.getLogger(__name__)
CHUNK = 200  # keys per Feast request: ~10 ms of the feature server's time


def view_keys(view: CachedView, field: str) -> list[int]:
    """The distinct keys of a view's keys file (a path from the working directory, the project
    root where the jobs and the API run), at most max_entries; none, with a warning naming the
    field, when the file is not there, not Parquet or without integer keys (the view then loads
    on a miss: a scorer does not fail, nor a job restart, for what only warms a cache)."""
    path = Path(view.keys_file)
    if not path.is_file():
        log.warning("%s.keys_file: no such file %s: the view loads on a miss", field, path.resolve())
        return []
    try:
        column = pq.read_table(path, columns=[view.join_key]).column(view.join_key)
    except (OSError, pa.ArrowException) as err:
        log.warning("%s.keys_file: %s not read (%s): the view loads on a miss", field, path.resolve(), err)
        return []
    if not pa.types.is_integer(column.type):
        log.warning(
            "%s.keys_file: %s holds %s %s, not integer keys: the view loads on a miss",
            field,
            path.resolve(),
            view.join_key,
            column.type,
        )
        return []
    keys = sorted(pc.unique(column).to_pylist())
    if len(keys) > view.max_entries:
        log.warning(
            "%s: %d keys, max_entries %d: the first %d held", field, len(keys), view.max_entries, view.max_entries
        )
    return keys[: view.max_entries]


class BatchViewLoader:
    def __init__(self, enricher: Enricher, cached_views: Sequence[CachedView], feast: FeastClient) -> None:
        """`feast`: the client the loads go through (a load is on no batch's path: its own timeout)."""
        with_keys = [(i, view) for i, view in enumerate(cached_views) if view.keys_file]
        self.enricher, self.feast = enricher, feast
        self.chunks = [
            (view.view, keys[start : start + CHUNK])
            for i, view in with_keys
            for keys in [view_keys(view, f"inference_job.cached_views[{i}]")]
            for start in range(0, len(keys), CHUNK)
        ]
        renew_within_s = min((view.ttl_s for _, view in with_keys), default=0.0) / 2
        self.pause_s = renew_within_s / max(1, len(self.chunks))
        self.stopping = threading.Event()
        self.renewal = threading.Thread(target=self._renew, daemon=True, name="batch-view-renewal")

    def load(self) -> dict[str, int]:
        """Every chunk at once; a Feast that fails leaves the rest to misses and to the renewal.
        Returns, per view, how many keys Feast had."""
        held: dict[str, int] = {}
        try:
            for view, keys in self.chunks:
                held[view] = held.get(view, 0) + self.enricher.preload(view, keys, self.feast)
        except FeastUnavailable as err:
            log.warning("batch views not (all) loaded, batches fetch them on a miss: %s", err)
        log.info("batch views in memory: %s", held)
        return held

    def start_renewing(self) -> None:
        if self.chunks:
            self.renewal.start()

    def _renew(self) -> None:
        while True:
            for view, keys in self.chunks:
                if self.stopping.wait(self.pause_s):
                    return
                try:
                    self.enricher.preload(view, keys, self.feast)
                except FeastUnavailable as err:  # what it holds stays until its ttl_s
                    log.warning("batch view %s not renewed: %s", view, err)

    def close(self) -> None:
        self.stopping.set()
        if self.renewal.is_alive():
            self.renewal.join(timeout=10)
