"""Enrichment: the FeatureService's online features for a batch of transactions.

Keys are de-duplicated within the batch ((card, merchant) pairs). One Feast request fetches the
views that are not cached for every pair; the cached views (pipeline config
`[[inference_job.cached_views]]`) are served from memory, and one more request fetches only the
entities they miss; when more than half of the pairs miss, a single request for every view
replaces the two. A view the job computes itself (the real-time card view, see
realtime_features.py) is never requested after the first batch: each event brings its values.
A feature Feast has no value for (NOT_FOUND, or a null, as Redis answers)
gets the documented default (flink_jobs/features/defaults.py) and the row is flagged
`features_missing`. With a circuit breaker (`on_unavailable = "degrade"`), a request that fails
past its retries, or one the open breaker holds back, is answered the same way: every feature it
asked for missing; only the first batch, which learns the FeatureService's layout, must reach Feast.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from flink_jobs.clients.circuit_breaker import CircuitBreaker
from flink_jobs.clients.feast_client import FeastClient, FeastUnavailable
from flink_jobs.config.pipeline_config import CachedView
from flink_jobs.events import Transaction
from flink_jobs.stages.enrich.feature_cache import TtlCache
from flink_jobs.stages.features.defaults import default

log = logging.getLogger(__name__)
JOIN_KEYS = ("card_id", "merchant_id")
Pair = tuple[int, int]
K = TypeVar("K", Pair, int)


@dataclass(frozen=True)
class ViewRow:
    """One view's features for one entity: name (without the view) -> value, None where Feast had none.

    `filled` (every value, a default where Feast had none) and `complete` are worked out once,
    when the row is made: a cached row serves thousands of events, each then costs one dict merge.
    """

    values: dict[str, float | None]
    timestamp: str  # the newest event timestamp of its present features, "" if none
    filled: dict[str, float] = field(init=False, repr=False, compare=False)
    complete: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        filled = {name: default(name) if value is None else float(value) for name, value in self.values.items()}
        object.__setattr__(self, "filled", filled)
        object.__setattr__(self, "complete", all(value is not None for value in self.values.values()))


@dataclass(frozen=True)
class Enriched:
    features: dict[str, float]  # feature name (without its view) -> value
    missing: bool
    feature_timestamps: dict[str, str]  # view -> the newest timestamp of its features for this row
    cached_views: tuple[str, ...]  # the views whose values came from the cache


@dataclass(frozen=True)
class Lookup:
    """A batch's events and what the caches held for them, before any Feast request."""

    events: list[Transaction]
    computed: Sequence[dict[str, float]] | None
    pairs: list[Pair]
    found: dict[str, dict[Pair, ViewRow]] | None  # view -> pair -> cached row; None before the layout is known
    missed_views: list[str]
    missed_pairs: set[Pair]
    live: list[str]  # the views never cached

    @property
    def needs_feast(self) -> bool:
        return self.found is None or bool(self.missed_views or self.live)


class Enricher:
    def __init__(
        self,
        feast: FeastClient,
        feature_service: str,
        cached_views: Sequence[CachedView] = (),
        computed_view: str | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.feast = feast
        self.breaker = breaker
        self.degraded_requests = 0  # answered with every feature missing: Feast failed or the breaker was open
        self.feature_service = feature_service
        self.computed_view = computed_view
        self.caches = {
            c.view: (JOIN_KEYS.index(c.join_key), TtlCache[ViewRow](c.ttl_s, c.max_entries)) for c in cached_views
        }
        self.layout: dict[str, list[str]] = {}  # view -> its features, in the FeatureService's order
        self.computed_checked = False
        # The caches' one guard: lookups and fills come from several threads (the batch views'
        # renewal, the job's scoring threads, the API's event loop and its Feast thread).
        self.cache_lock = threading.Lock()

    def enrich(self, events: list[Transaction], computed: Sequence[dict[str, float]] | None = None) -> list[Enriched]:
        """`computed`: per event, the computed view's features (when the Enricher has one)."""
        return self.complete(self.look_up(events, computed))

    async def enrich_on_loop(
        self, events: list[Transaction], computed: Sequence[dict[str, float]] | None, feast_thread: Executor
    ) -> list[Enriched]:
        """`enrich` from an event loop: the lookups on the loop, the rest on `feast_thread` only when
        a view needs Feast (a batch every view of which is in memory makes no thread hop)."""
        lookup = self.look_up(events, computed)
        if not lookup.needs_feast:
            return self.complete(lookup)
        return await asyncio.get_running_loop().run_in_executor(feast_thread, self.complete, lookup)

    def look_up(self, events: list[Transaction], computed: Sequence[dict[str, float]] | None = None) -> Lookup:
        """A batch's cache lookups; `complete` makes its Feast requests (if `needs_feast`) and its rows."""
        if (computed is None) != (self.computed_view is None):
            raise ValueError(f"the computed view {self.computed_view!r} needs its features with every event")
        pairs = sorted({(e.card_id, e.merchant_id) for e in events})
        if not self.layout:
            return Lookup(events, computed, pairs, None, [], set(), [])
        with self.cache_lock:
            found, missed_views, missed_pairs = self._look_up(pairs)
        live = [view for view in self.layout if view != self.computed_view and view not in self.caches]
        return Lookup(events, computed, pairs, found, missed_views, missed_pairs, live)

    def complete(self, lookup: Lookup) -> list[Enriched]:
        pairs, found = lookup.pairs, lookup.found
        from_cache: dict[str, set[Pair]] = {view: set() for view in self.caches}
        if found is None:
            rows = self.service_rows(pairs)
            self._learn_layout(rows)
        elif 2 * len(lookup.missed_pairs) > len(pairs):
            # Mostly misses: one request for every view costs less than a second one for the misses.
            rows = self._fetch_views(pairs, [view for view in self.layout if view != self.computed_view])
        else:
            rows = self._fetch_views(pairs, lookup.live) if lookup.live else {}
            missed = lookup.missed_views
            fetched = self._fetch_views(sorted(lookup.missed_pairs), missed) if missed else {}
            for view in self.caches:
                rows[view] = {**fetched.get(view, {}), **found[view]}
                from_cache[view] = set(found[view])
        computed = lookup.computed
        if computed is not None and not self.computed_checked:
            self._check_computed(computed[0])
        with self.cache_lock:
            for view, (key_index, cache) in self.caches.items():
                for pair in pairs:
                    row = rows[view][pair]
                    if pair not in from_cache[view] and row.complete:
                        cache.put(pair[key_index], row)
        by_pair = {pair: self._combine(pair, rows, from_cache) for pair in pairs}
        if computed is None:
            return [by_pair[(e.card_id, e.merchant_id)] for e in lookup.events]
        return [
            _with_computed(by_pair[(e.card_id, e.merchant_id)], features)
            for e, features in zip(lookup.events, computed, strict=True)
        ]

    def cache_stats(self) -> dict[str, TtlCache[ViewRow]]:
        return {view: cache for view, (_, cache) in self.caches.items()}

    def preload(self, view: str, keys: list[int], feast: FeastClient) -> int:
        """Puts these entities' rows of a cached view into its cache, from one request to `feast`
        (a client with a longer timeout than the requests' own) for that view alone; neither a
        hit nor a miss. Returns how many Feast had complete."""
        key_index, cache = self.caches[view]
        if not self.layout:
            pair = (keys[0], 0) if key_index == 0 else (0, keys[0])
            self._learn_layout(self._fetch([pair], feast, feature_service=self.feature_service))
        refs = [f"{view}:{name}" for name in self.layout[view]]
        rows = self._rows(feast, {JOIN_KEYS[key_index]: keys}, keys, features=refs)[view]
        complete = [(key, row) for key, row in rows.items() if row.complete]
        with self.cache_lock:
            for key, row in complete:
                cache.put(key, row)
        return len(complete)

    def _learn_layout(self, rows: dict[str, dict[Pair, ViewRow]]) -> None:
        self.layout = {view: list(next(iter(by_pair.values())).values) for view, by_pair in rows.items()}
        unknown = sorted(set(self.caches) - set(self.layout))
        if unknown:
            raise ValueError(
                f"inference_job.cached_views: {unknown[0]!r} is not a view of the FeatureService "
                f"{self.feature_service!r} (its views: {', '.join(self.layout)})"
            )

    def _check_computed(self, computed: dict[str, float]) -> None:
        if self.computed_view not in self.layout:
            raise ValueError(
                f"features.realtime_view: {self.computed_view!r} is not a view of the FeatureService "
                f"{self.feature_service!r} (its views: {', '.join(self.layout)})"
            )
        if set(self.layout[self.computed_view]) != set(computed):
            raise ValueError(
                f"features.realtime_view: the job computes {sorted(computed)}, but the view "
                f"{self.computed_view!r} serves {sorted(self.layout[self.computed_view])}"
            )
        self.computed_checked = True

    def _look_up(self, pairs: list[Pair]) -> tuple[dict[str, dict[Pair, ViewRow]], list[str], set[Pair]]:
        """The cached views' rows the cache has (view -> pair -> row), the views with a miss, and
        the pairs with a miss in any view. Each distinct entity key is one lookup."""
        found: dict[str, dict[Pair, ViewRow]] = {}
        missed_views, missed_pairs = [], set()
        for view, (key_index, cache) in self.caches.items():
            rows = {key: cache.get(key) for key in {pair[key_index] for pair in pairs}}
            found[view] = {pair: row for pair in pairs if (row := rows[pair[key_index]]) is not None}
            missing = [pair for pair in pairs if pair not in found[view]]
            if missing:
                missed_views.append(view)
                missed_pairs.update(missing)
        return found, missed_views, missed_pairs

    def _fetch_views(self, pairs: list[Pair], views: list[str]) -> dict[str, dict[Pair, ViewRow]]:
        """view -> pair -> its row for these views; with a breaker, all missing when Feast fails."""
        refs = [f"{view}:{name}" for view in views for name in self.layout[view]]
        if self.breaker is None:
            return self._fetch(pairs, self.feast, features=refs)
        if self.breaker.allows_call():
            try:
                rows = self._fetch(pairs, self.feast, features=refs)
            except FeastUnavailable as err:
                self.breaker.failed()
                log.warning("feast unavailable, serving defaults (breaker %s): %s", self.breaker.state, err)
            else:
                self.breaker.succeeded()
                return rows
        self.degraded_requests += 1
        return {view: {pair: ViewRow(dict.fromkeys(self.layout[view]), "") for pair in pairs} for view in views}

    def service_rows(self, pairs: list[Pair]) -> dict[str, dict[Pair, ViewRow]]:
        """view -> pair -> its row, for every view of the FeatureService as Feast serves it now
        (no cache, no breaker): what an edge site's feature values are copied from and checked against."""
        return self._fetch(pairs, self.feast, feature_service=self.feature_service)

    def _fetch(self, pairs: list[Pair], feast: FeastClient, **request: object) -> dict[str, dict[Pair, ViewRow]]:
        """view -> pair -> its row, from one /get-online-features request for `pairs`."""
        entities = {"card_id": [c for c, _ in pairs], "merchant_id": [m for _, m in pairs]}
        return self._rows(feast, entities, pairs, **request)

    def _rows(
        self, feast: FeastClient, entities: dict[str, list[int]], keys: Sequence[K], **request: object
    ) -> dict[str, dict[K, ViewRow]]:
        """view -> key -> its row, from one /get-online-features request for `entities` (a
        column per join key, a row per item of `keys`)."""
        columns = feast.online_features(entities, full_feature_names=True, **request)  # type: ignore[arg-type]
        values: dict[str, list[dict[str, float | None]]] = {}
        stamps: dict[str, list[str]] = {}
        for full_name, column in columns.items():
            if full_name in JOIN_KEYS:
                continue
            view, _, name = full_name.partition("__")
            view_values = values.setdefault(view, [{} for _ in keys])
            view_stamps = stamps.setdefault(view, ["" for _ in keys])
            for i, (value, status, stamp) in enumerate(
                zip(column.values, column.statuses, column.event_timestamps, strict=True)
            ):
                present = status == "PRESENT" and value is not None
                view_values[i][name] = float(value) if present else None
                if present:
                    view_stamps[i] = max(view_stamps[i], stamp)
        return {view: {key: ViewRow(values[view][i], stamps[view][i]) for i, key in enumerate(keys)} for view in values}

    def _combine(self, pair: Pair, rows: dict[str, dict[Pair, ViewRow]], from_cache: dict[str, set[Pair]]) -> Enriched:
        features: dict[str, float] = {}
        stamps, missing = {}, False
        for view in self.layout:
            if view == self.computed_view:
                continue
            row = rows[view][pair]
            features.update(row.filled)
            missing = missing or not row.complete
            if row.timestamp:
                stamps[view] = row.timestamp
        cached = tuple(view for view in self.layout if pair in from_cache.get(view, ()))
        return Enriched(features, missing, stamps, cached)


def _with_computed(fetched: Enriched, computed: dict[str, float]) -> Enriched:
    """A row's fetched views and the event's computed one (never missing: a card's first
    transaction has the documented first-transaction values, not gaps)."""
    return Enriched({**fetched.features, **computed}, fetched.missing, fetched.feature_timestamps, fetched.cached_views)


def feature_ages_s(rows: Sequence[Enriched], now_s: float) -> dict[str, list[float]]:
    """Per view, how old each row's newest feature of the view was at now_s (epoch seconds); rows
    the view had no feature for are left out."""
    ages: dict[str, list[float]] = {}
    epoch_s: dict[str, float] = {}  # a batch's rows share few timestamps: parse each once
    for row in rows:
        for view, stamp in row.feature_timestamps.items():
            at = epoch_s.get(stamp)
            if at is None:
                parsed = datetime.fromisoformat(stamp)
                at = epoch_s[stamp] = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
            ages.setdefault(view, []).append(now_s - at)
    return ages
