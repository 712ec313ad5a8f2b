"""The keys a cached view's keys_file gives the inference job and the scoring API to hold in memory."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from flink_jobs.config.pipeline_config import CachedView
from flink_jobs.stages.enrich.batch_view_loader import view_keys


def test_the_keys_are_the_files_distinct_join_keys_up_to_max_entries(tmp_path):
    days = pd.to_datetime(["2026-12-01", "2026-12-02"])
    path = tmp_path / "cards.parquet"
    pd.DataFrame({"card_id": [7, 3, 7, 5, 3], "event_timestamp": [days[0]] * 3 + [days[1]] * 2}).to_parquet(path)
    view = CachedView("card_stats", "card_id", keys_file=str(path))
    assert view_keys(view, "inference_job.cached_views[0]") == [3, 5, 7]
    capped = CachedView("card_stats", "card_id", max_entries=2, keys_file=str(path))
    assert view_keys(capped, "inference_job.cached_views[0]") == [3, 5]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"not parquet", "not read"),
        (pd.DataFrame({"merchant_id": [1]}), "not read"),  # no card_id column
        (pd.DataFrame({"card_id": ["a", "b"]}), "holds card_id string, not integer keys"),
    ],
)
def test_an_unreadable_keys_file_leaves_the_view_to_misses_naming_the_field(tmp_path, caplog, content, problem):
    path = tmp_path / "cards.parquet"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        content.to_parquet(path)
    view = CachedView("card_stats", "card_id", keys_file=str(path))
    with caplog.at_level(logging.WARNING):
        assert view_keys(view, "inference_job.cached_views[0]") == []
    assert "inference_job.cached_views[0].keys_file:" in caplog.text and problem in caplog.text


def test_a_missing_keys_file_leaves_the_view_to_misses_naming_the_field(tmp_path, caplog):
    view = CachedView("merchant_stats", "merchant_id", keys_file=str(tmp_path / "absent.parquet"))
    with caplog.at_level(logging.WARNING):
        assert view_keys(view, "inference_job.cached_views[1]") == []
    assert "inference_job.cached_views[1].keys_file: no such file" in caplog.text
