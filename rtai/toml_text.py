"""Writes TOML (the standard library only reads it): nested tables, arrays of tables, and values
that are strings, numbers, booleans or lists of them.

For derived config files: a benchmark or test takes a pipeline config, changes a few keys
and hands the job a file of its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from flink_jobs.config import pipeline_config
from flink_jobs.config.typed_config import merged, read_toml


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return json.dumps(value)  # a JSON string or number is a valid TOML one
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _is_table_array(value: object) -> bool:
    return isinstance(value, list | tuple) and bool(value) and all(isinstance(item, Mapping) for item in value)


def dumps(table: Mapping[str, object], prefix: str = "", header: str = "") -> str:
    """`header`: how this table is introduced ("[prefix]" unless it is an element of an array of tables)."""
    scalars = [
        f"{key} = {_value(value)}\n"
        for key, value in table.items()
        if not isinstance(value, Mapping) and not _is_table_array(value)
    ]
    header = header or (f"[{prefix}]\n" if prefix and scalars else "")
    text = header + "".join(scalars)
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            text += dumps(value, name)
        elif _is_table_array(value):
            text += "".join(dumps(item, name, header=f"[[{name}]]\n") for item in value)
    return text


def derive_pipeline(base: Path, changes: Mapping[str, object], path: Path) -> pipeline_config.PipelineConfig:
    """Writes the pipeline config file `base` with `changes` applied table by table to `path` (a
    benchmark's or the demo's own copy) and loads it: the copy is checked like the original."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(merged(read_toml(base), changes)))
    return pipeline_config.load(path)
