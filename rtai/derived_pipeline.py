"""A pipeline config file derived from another: a benchmark, a test or the demo takes a pipeline
config, changes a few keys and hands the job a file of its own."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import tomli_w

from flink_jobs.config import pipeline_config
from flink_jobs.config.typed_config import merged, read_toml


def write(base: Path, changes: Mapping[str, object], path: Path) -> pipeline_config.PipelineConfig:
    """Writes the pipeline config file `base` with `changes` applied table by table to `path` and
    loads it: the copy is checked like the original."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(merged(read_toml(base), changes)))
    return pipeline_config.load(path)
