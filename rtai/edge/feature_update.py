"""Feature values sent from the core to an edge site (`rtai edge publish features`, `rtai edge
sync`): the rows of the pipeline's slowly changing views (its `[[inference_job.cached_views]]`,
each keyed by a card or a merchant) for the entities the site serves, as the core's Feast serves
them, each with its event timestamp.

At the site every row is checked against the site's own FeatureService before it is written:
the view is one the pipeline caches by that key, its features are the site's by name, every value
is a finite number and the timestamp is not ahead of the site's clock by more than the pipeline's
`[events] max_ahead_ms`. Rows that pass go into the site's online store (Feast's
`/write-to-online-store`); a row that fails is not written and its reason is reported.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flink_jobs.config.pipeline_config import CachedView
from flink_jobs.stages.enrich.enricher import Enricher, Pair
from rtai.edge.update_rejected import UpdateRejected

KIND = "features"
ROWS_PER_MESSAGE = 500
NO_ENTITY = -1  # pads the shorter id list of a Feast request; its rows are never read


@dataclass(frozen=True)
class FeatureRow:
    key: int
    event_timestamp: str  # ISO-8601
    values: dict[str, float]


@dataclass(frozen=True)
class FeatureUpdate:
    view: str
    join_key: str
    rows: tuple[FeatureRow, ...]

    def to_bytes(self) -> bytes:
        rows = [{"key": r.key, "event_timestamp": r.event_timestamp, "values": r.values} for r in self.rows]
        return json.dumps({"view": self.view, "join_key": self.join_key, "rows": rows}).encode()

    def properties(self) -> dict[str, str]:
        return {"kind": KIND, "view": self.view}


def read_views(
    enricher: Enricher, views: Sequence[CachedView], ids: Mapping[str, Sequence[int]]
) -> list[FeatureUpdate]:
    """The core side: each view's complete rows for the ids of its join key (`ids`: join key ->
    entity ids), in updates of at most ROWS_PER_MESSAGE rows. Entities Feast has no complete row
    for are left out."""
    cards, merchants = list(ids.get("card_id", ())), list(ids.get("merchant_id", ()))
    updates = []
    for start in range(0, max(len(cards), len(merchants)), ROWS_PER_MESSAGE):
        end = start + ROWS_PER_MESSAGE
        chunk = {"card_id": cards[start:end], "merchant_id": merchants[start:end]}
        width = max(len(chunk["card_id"]), len(chunk["merchant_id"]))
        padded = {key: keys + [NO_ENTITY] * (width - len(keys)) for key, keys in chunk.items()}
        pairs: list[Pair] = list(zip(padded["card_id"], padded["merchant_id"], strict=True))
        served = enricher.service_rows(pairs)
        for view in views:
            if view.view not in served:
                raise UpdateRejected(f"{view.view!r} is not a view of the FeatureService {enricher.feature_service!r}")
            index = ("card_id", "merchant_id").index(view.join_key)
            rows = []
            for pair in pairs[: len(chunk[view.join_key])]:
                row = served[view.view][pair]
                if row.complete:
                    rows.append(FeatureRow(pair[index], row.timestamp, {k: float(v) for k, v in row.values.items()}))
            if rows:
                updates.append(FeatureUpdate(view.view, view.join_key, tuple(rows)))
    return updates


def from_message(data: bytes) -> FeatureUpdate:
    """An update as the site received it; UpdateRejected when it is not one."""
    try:
        body = json.loads(data)
        rows = tuple(FeatureRow(int(r["key"]), str(r["event_timestamp"]), dict(r["values"])) for r in body["rows"])
        return FeatureUpdate(str(body["view"]), str(body["join_key"]), rows)
    except (ValueError, KeyError, TypeError) as err:
        raise UpdateRejected(f"a feature update that is not one ({type(err).__name__}: {err})") from err


@dataclass(frozen=True)
class Written:
    rows: int
    rejected: dict[str, int]  # reason -> rows

    def describe(self, view: str) -> str:
        text = f"{view}: {self.rows} rows checked and written"
        return text + "".join(f"; {count} rejected: {reason}" for reason, count in self.rejected.items())


def _finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _problem(row: FeatureRow, features: set[str], now: datetime, max_ahead: timedelta) -> str:
    if set(row.values) != features:
        return f"its features are not the site's {sorted(features)}"
    if not all(_finite_number(v) for v in row.values.values()):
        return "a value that is not a finite number"
    try:
        stamp = datetime.fromisoformat(row.event_timestamp)
    except ValueError:
        return "an event_timestamp that is not ISO-8601"
    if stamp.tzinfo is None:
        return "an event_timestamp without a time zone"
    if stamp > now + max_ahead:
        return f"an event_timestamp more than {max_ahead} ahead of the site's clock"
    return ""


def write(update: FeatureUpdate, site: Enricher, views: Sequence[CachedView], max_ahead_ms: int) -> Written:
    """The site side: `update`'s rows that pass the checks, written into the site's online store
    through `site`'s Feast; UpdateRejected when the view is none the pipeline caches by its key."""
    if not any(v.view == update.view and v.join_key == update.join_key for v in views):
        raise UpdateRejected(f"{update.view!r} by {update.join_key} is not one of the pipeline's cached views")
    layout = site.service_rows([(NO_ENTITY, NO_ENTITY)])
    if update.view not in layout:
        raise UpdateRejected(f"{update.view!r} is not a view of the site's FeatureService {site.feature_service!r}")
    features = set(next(iter(layout[update.view].values())).values)
    now, max_ahead = datetime.now(UTC), timedelta(milliseconds=max_ahead_ms)
    good, rejected = [], {}
    for row in update.rows:
        problem = _problem(row, features, now, max_ahead)
        if problem:
            rejected[problem] = rejected.get(problem, 0) + 1
        else:
            good.append(row)
    if good:
        columns: dict[str, list[object]] = {update.join_key: [r.key for r in good]}
        columns.update({name: [r.values[name] for r in good] for name in sorted(features)})
        columns["event_timestamp"] = [r.event_timestamp for r in good]
        try:
            site.feast.write_to_online_store(update.view, columns)
        except ValueError as err:  # the site's Feast refused the rows (a 4xx): they never will fit
            raise UpdateRejected(f"{update.view}: the site's Feast refused the rows: {err}") from err
    return Written(len(good), rejected)
