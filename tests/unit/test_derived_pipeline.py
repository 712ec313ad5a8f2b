"""Derived pipeline config files: the changes applied table by table, the rest as the base has it."""

from __future__ import annotations

import tomllib

from flink_jobs.config.typed_config import merged
from rtai import derived_pipeline, paths


def test_a_derived_pipeline_holds_the_base_with_the_changes_and_loads(tmp_path):
    base = tomllib.loads(paths.DEFAULT_PIPELINE.read_text())
    assert base["rules"] and base["inference_job"]["cached_views"]  # arrays of tables are in it
    config = derived_pipeline.write(paths.DEFAULT_PIPELINE, {"topics": {"alerts": "other-alerts"}}, tmp_path / "p.toml")
    assert config.topics.alerts == "other-alerts"
    written = tomllib.loads((tmp_path / "p.toml").read_text())
    assert written == {**base, "topics": {**base["topics"], "alerts": "other-alerts"}}


def test_merged_changes_keys_table_by_table():
    base = {"a": {"x": 1, "y": [1, 2]}, "rules": [{"name": "r", "min_score": 0.5}]}
    assert merged(base, {"a": {"x": 2}}) == {"a": {"x": 2, "y": [1, 2]}, "rules": base["rules"]}
