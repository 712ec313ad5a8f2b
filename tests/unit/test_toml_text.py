"""Derived config files: what toml_text writes reads back as the same document."""

from __future__ import annotations

import tomllib

from flink_jobs.config.typed_config import merged
from rtai import paths, toml_text


def test_the_fraud_pipeline_config_round_trips_with_its_arrays_of_tables():
    raw = tomllib.loads(paths.DEFAULT_PIPELINE.read_text())
    assert raw["rules"] and raw["inference_job"]["cached_views"]  # arrays of tables are in it
    assert tomllib.loads(toml_text.dumps(raw)) == raw


def test_merged_changes_keys_table_by_table():
    base = {"a": {"x": 1, "y": [1, 2]}, "rules": [{"name": "r", "min_score": 0.5}]}
    changed = merged(base, {"a": {"x": 2}})
    assert tomllib.loads(toml_text.dumps(changed)) == {"a": {"x": 2, "y": [1, 2]}, "rules": base["rules"]}
