"""Feast's own CPU per row written online, in-process (no feature server, no HTTP): the floor
under the feature job's push. Runs in the feast environment, on an applied repository whose
online store it writes (give it a scratch copy: the rows are made up):
`python infra/feast/write_cost.py <feature_repo> <feature_store.yaml> <push source> <rows per call> <calls>`.
Prints one JSON object: per way of writing (`push`, as the feature server's /push calls it, and
`write_to_online_store`), CPU and wall microseconds per row.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from feast import FeatureStore, FeatureView
from feast.data_source import PushMode

FIRST_CARD = 10_000_000  # far above the generator's card ids


def pushed_view(store: FeatureStore, push_source: str) -> FeatureView:
    for view in store.list_feature_views():
        if getattr(view.stream_source, "name", None) == push_source:
            return view
    raise SystemExit(f"write_cost: no feature view reads push source {push_source!r}")


def frame(view: FeatureView, first: int, rows: int) -> pd.DataFrame:
    """Rows for `view`: ids from `first`, every feature a plain number."""
    columns: dict[str, object] = {key: range(first, first + rows) for key in view.join_keys}
    columns[view.stream_source.batch_source.timestamp_field] = [datetime.now(UTC)] * rows
    for index, feature in enumerate(view.features):
        columns[feature.name] = [index + 1] * rows if "Int" in str(feature.dtype) else [index + 0.5] * rows
    return pd.DataFrame(columns)


def per_row_us(write: Callable[[pd.DataFrame], None], frames: list[pd.DataFrame]) -> dict[str, float]:
    """Writes the first frame untimed (the call's own first-time costs), then times the others."""
    write(frames[0])
    cpu, wall = time.process_time(), time.perf_counter()
    for rows in frames[1:]:
        write(rows)
    total = sum(len(rows) for rows in frames[1:])
    return {
        "cpu_us_per_row": round((time.process_time() - cpu) * 1e6 / total, 1),
        "wall_us_per_row": round((time.perf_counter() - wall) * 1e6 / total, 1),
    }


def main(repo: Path, feature_store_yaml: Path, push_source: str, rows: int, calls: int) -> None:
    store = FeatureStore(repo_path=str(repo), fs_yaml_file=feature_store_yaml)
    view = pushed_view(store, push_source)
    frames = [frame(view, FIRST_CARD + call * rows, rows) for call in range(calls + 1)]
    for rows_of_call in frames:  # the rows there first: the job's writes mostly update cards it has seen
        store.write_to_online_store(view.name, rows_of_call)
    result = {
        "online_store": store.config.online_store.type,
        "rows_per_call": rows,
        "calls": calls,
        "push": per_row_us(lambda rows: store.push(push_source, rows, to=PushMode.ONLINE), frames),
        "write_to_online_store": per_row_us(lambda rows: store.write_to_online_store(view.name, rows), frames),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve(), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
