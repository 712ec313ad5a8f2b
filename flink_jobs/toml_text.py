"""Writes nested tables of strings, numbers and booleans as TOML (the standard library only reads it).

For derived config files: a benchmark or test takes a pipeline config, changes a few keys
and hands the job a file of its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return json.dumps(value)  # a JSON string or number is a valid TOML one
    raise TypeError(f"no TOML form for {type(value).__name__}")


def dumps(table: Mapping[str, object], prefix: str = "") -> str:
    scalars = [f"{key} = {_value(value)}\n" for key, value in table.items() if not isinstance(value, Mapping)]
    text = (f"[{prefix}]\n" if prefix and scalars else "") + "".join(scalars)
    for key, value in table.items():
        if isinstance(value, Mapping):
            text += dumps(value, f"{prefix}.{key}" if prefix else key)
    return text


def merged(base: Mapping[str, object], changes: Mapping[str, object]) -> dict[str, object]:
    """`base` with `changes` applied table by table."""
    result = dict(base)
    for key, value in changes.items():
        current = result.get(key)
        is_table = isinstance(value, Mapping) and isinstance(current, Mapping)
        result[key] = merged(current, value) if is_table else value
    return result
