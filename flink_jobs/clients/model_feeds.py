"""A model's inputs as the callers feed them, from named columns (one float per event each).

Two layouts, read from the model itself: one [batch, 1] input per column, named after it (the
fraud model before 2026-12-06), or one [batch, F] matrix whose F columns the model names in
order (its ONNX metadata and its config.pbtxt's parameters, key INPUT_COLUMNS: a JSON object,
input name -> column names). A matrix is one tensor per request: one copy, one header, one
buffer in Triton's Python backend, instead of F.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

INPUT_COLUMNS = "input_columns"

# Integers a float type holds exactly: up to 2**mantissa bits.
_EXACT_INTEGERS = {np.dtype(np.float16): 2**11, np.dtype(np.float32): 2**24, np.dtype(np.float64): 2**53}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: np.dtype
    dims: tuple[int, ...]  # without the batch dimension; -1 is variable
    columns: tuple[str, ...] = ()  # a matrix input's columns, in order; () for an input fed as it is named


def parse_input_columns(text: str, where: str) -> dict[str, tuple[str, ...]]:
    """INPUT_COLUMNS' value: input name -> its columns ({} for ""); ValueError naming `where` when malformed."""
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where}: {INPUT_COLUMNS} is not JSON: {err}") from err
    if not isinstance(parsed, dict) or not all(
        isinstance(names, list) and names and all(isinstance(n, str) for n in names) for names in parsed.values()
    ):
        raise ValueError(f"{where}: {INPUT_COLUMNS} must map each input name to a list of column names")
    return {name: tuple(names) for name, names in parsed.items()}


def input_columns_text(columns: Mapping[str, Sequence[str]]) -> str:
    return json.dumps({name: list(names) for name, names in columns.items()}, separators=(",", ":"))


def with_columns(
    specs: Sequence[TensorSpec], columns: Mapping[str, tuple[str, ...]], where: str
) -> tuple[TensorSpec, ...]:
    """`specs` with their matrix columns; ValueError when the columns do not fit an input's width."""
    unknown = set(columns) - {spec.name for spec in specs}
    if unknown:
        raise ValueError(f"{where}: {INPUT_COLUMNS} names {', '.join(sorted(unknown))}, not among the inputs")
    out = []
    for spec in specs:
        names = columns.get(spec.name, ())
        if names and spec.dims not in ((len(names),), (-1,)):
            raise ValueError(
                f"{where}: input {spec.name} has dims {list(spec.dims)}, its {len(names)} columns do not fit"
            )
        out.append(TensorSpec(spec.name, spec.dtype, spec.dims, names))
    return tuple(out)


def lossless(column: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """`column` as `dtype` when every value survives the conversion; ValueError otherwise."""
    if column.dtype == dtype:
        return column
    if np.can_cast(column.dtype, dtype, casting="safe"):
        return column.astype(dtype)
    limit = _EXACT_INTEGERS.get(dtype)
    if np.issubdtype(column.dtype, np.integer) and limit is not None and (np.abs(column) <= limit).all():
        return column.astype(dtype)
    raise ValueError(
        f"column {name!r} is {column.dtype}, the model's input is {dtype}: converting would change values; "
        f"convert it on purpose before calling"
    )


def feed_names(specs: Sequence[TensorSpec]) -> list[str]:
    """The column names a caller gives: each matrix input's columns, each other input's own name."""
    return [name for spec in specs for name in (spec.columns or (spec.name,))]


def model_arrays(
    model: str, specs: Sequence[TensorSpec], columns: Mapping[str, np.ndarray], rows: int
) -> list[tuple[TensorSpec, np.ndarray]]:
    """Each model input's tensor, shaped and typed as its spec says (lossless, or an error): a
    matrix input from its columns, unless `columns` holds the whole tensor under its name."""
    missing = [
        name
        for spec in specs
        if spec.name not in columns
        for name in (spec.columns or (spec.name,))
        if name not in columns
    ]
    if missing:
        raise ValueError(f"model {model} needs input(s) {', '.join(missing)}; not among the columns given")
    arrays = []
    for spec in specs:
        if spec.name in columns or not spec.columns:
            tensor = np.asarray(columns[spec.name])
            _check_rows(spec.name, tensor, rows)
            if tensor.ndim == 1 and spec.dims == (1,):
                tensor = tensor.reshape(rows, 1)
            arrays.append((spec, lossless(tensor, spec.dtype, spec.name)))
            continue
        matrix = np.empty((rows, len(spec.columns)), spec.dtype)
        for index, name in enumerate(spec.columns):
            column = np.asarray(columns[name])
            _check_rows(name, column, rows)
            matrix[:, index] = lossless(column.reshape(rows), spec.dtype, name)
        arrays.append((spec, matrix))
    return arrays


def _check_rows(name: str, column: np.ndarray, rows: int) -> None:
    if column.shape[0] != rows:
        raise ValueError(f"column {name!r} has {column.shape[0]} rows, the others {rows}")
