"""The keys a cached view's keys_file gives the scoring API to hold in memory."""

from __future__ import annotations

import pandas as pd
import pytest

from flink_jobs.config.pipeline_config import CachedView
from rtai.serving.batch_views import view_keys


def test_the_keys_are_the_files_distinct_join_keys_up_to_max_entries(tmp_path):
    (tmp_path / "data").mkdir()
    days = pd.to_datetime(["2026-12-01", "2026-12-02"])
    pd.DataFrame({"card_id": [7, 3, 7, 5, 3], "event_timestamp": [days[0]] * 3 + [days[1]] * 2}).to_parquet(
        tmp_path / "data" / "cards.parquet"
    )
    view = CachedView("card_stats", "card_id", keys_file="data/cards.parquet")
    assert view_keys(view, tmp_path, "inference_job.cached_views[0]") == [3, 5, 7]
    capped = CachedView("card_stats", "card_id", max_entries=2, keys_file="data/cards.parquet")
    assert view_keys(capped, tmp_path, "inference_job.cached_views[0]") == [3, 5]


def test_a_missing_keys_file_stops_the_api_naming_the_field(tmp_path):
    view = CachedView("merchant_stats", "merchant_id", keys_file="data/absent.parquet")
    with pytest.raises(SystemExit, match=r"inference_job\.cached_views\[1\]\.keys_file: no such file"):
        view_keys(view, tmp_path, "inference_job.cached_views[1]")
