"""The batch views in memory: every key of each cached view with a `keys_file` loaded from Feast
before the API says ready, and renewed in the background every ttl_s / 2, so a request waits for
Feast only for a key the file does not hold (an entity newer than the file).

With the views loaded on a miss, a request for a card the API had not met waited for its Feast
round trip: at 500 requests/s the handler's p50 was 6 ms against 0.5 ms for cards already cached
(bench/README.md: the scoring API, its batch views in memory). The loads run in the scorer's Feast
thread, a chunk at a time, so a request that misses waits for one chunk at most and no two
threads touch a cache.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from dataclasses import replace
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from flink_jobs.clients.feast_client import FeastClient, FeastUnavailable
from flink_jobs.config.pipeline_config import CachedView, PipelineConfig
from flink_jobs.stages.enrich.enricher import Enricher

log = logging.getLogger(__name__)
CHUNK = 200  # keys per Feast request: ~10 ms of the feature server's, what a miss may wait behind


def view_keys(view: CachedView, repo: Path, field: str) -> list[int]:
    """The distinct keys of a view's keys file (a path in the Feast repository), at most max_entries."""
    path = repo / view.keys_file
    if not path.is_file():
        raise SystemExit(f'{field}.keys_file: no such file {path} (run `rtai features backfill`, or set it to "")')
    table = pq.read_table(path, columns=[view.join_key])
    keys = sorted(pc.unique(table.column(view.join_key)).to_pylist())
    if len(keys) > view.max_entries:
        log.warning(
            "%s: %d keys, max_entries %d: the first %d held", field, len(keys), view.max_entries, view.max_entries
        )
    return keys[: view.max_entries]


class PreloadedViews:
    @classmethod
    def of(cls, config: PipelineConfig, repo: Path, enricher: Enricher, feast_thread: Executor) -> PreloadedViews:
        """The cached views with a keys_file (`repo`: the Feast repository their paths are in)."""
        with_keys = [(i, view) for i, view in enumerate(config.inference_job.cached_views) if view.keys_file]
        keys = {view.view: view_keys(view, repo, f"inference_job.cached_views[{i}]") for i, view in with_keys}
        ttl_s = min((view.ttl_s for _, view in with_keys), default=1.0)
        feast = config.scoring_api.feast
        return cls(
            enricher, keys, ttl_s, feast_thread, FeastClient.from_calls(replace(feast, timeout_s=feast.load_timeout_s))
        )

    def __init__(
        self, enricher: Enricher, views: dict[str, list[int]], ttl_s: float, feast_thread: Executor, feast: FeastClient
    ) -> None:
        """`views`: view -> its keys; `ttl_s`: the shortest of their ttl_s."""
        self.enricher, self.views, self.feast_thread, self.feast = enricher, views, feast_thread, feast
        self.refresh_s = ttl_s / 2

    async def load(self, pause_s: float = 0.0) -> None:
        """Every view's keys into its cache, `pause_s` between two chunks; a Feast that fails
        leaves what was loaded until its ttl_s (then requests miss and fetch, or fall back)."""
        loop = asyncio.get_running_loop()
        held = dict.fromkeys(self.views, 0)
        try:
            for view, chunk in self._chunks():
                held[view] += await loop.run_in_executor(
                    self.feast_thread, self.enricher.preload, view, chunk, self.feast
                )
                await asyncio.sleep(pause_s)
        except FeastUnavailable as err:
            log.warning("batch views not (all) loaded, requests fetch them on a miss: %s", err)
        log.info("batch views in memory: %s", held)

    async def keep_fresh(self) -> None:
        """Renews every key within refresh_s, the chunks spread evenly over it: renewed all at
        once, the Feast thread's parsing held the event loop back (at 500/s, p99 38-47 ms with
        a renewal every 5 s, against 6 ms without; bench/README.md)."""
        pause_s = self.refresh_s / max(1, len(self._chunks()))
        while self.views:
            await self.load(pause_s)

    def _chunks(self) -> list[tuple[str, list[int]]]:
        return [(view, keys[i : i + CHUNK]) for view, keys in self.views.items() for i in range(0, len(keys), CHUNK)]

    def close(self) -> None:
        self.feast.close()
