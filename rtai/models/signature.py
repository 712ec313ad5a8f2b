"""A model's inputs and outputs as Triton names them, read from its ONNX graph by onnxruntime
(in every environment that scores or registers a model: flink and model)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from flink_jobs.clients.model_feeds import INPUT_COLUMNS, parse_input_columns
from flink_jobs.errors import UserFacingError

# onnxruntime's element types -> Triton data types.
ORT_TO_TRITON = {
    "tensor(float)": "TYPE_FP32",
    "tensor(float16)": "TYPE_FP16",
    "tensor(double)": "TYPE_FP64",
    "tensor(int32)": "TYPE_INT32",
    "tensor(int64)": "TYPE_INT64",
    "tensor(bool)": "TYPE_BOOL",
}


@dataclass(frozen=True)
class Tensor:
    name: str
    data_type: str  # TYPE_FP32, ...
    dims: tuple[int, ...]  # without the batch dimension; -1 where variable
    columns: tuple[str, ...] = ()  # a matrix input's columns, as the model's metadata names them


def _tensors(nodes: list[ort.NodeArg]) -> list[Tensor]:
    tensors = []
    for node in nodes:
        if node.type not in ORT_TO_TRITON:
            raise UserFacingError(f"{node.name}: ONNX element type {node.type} has no Triton data type here")
        if not node.shape or isinstance(node.shape[0], int):
            raise UserFacingError(f"{node.name}: the first dimension must be the (dynamic) batch dimension")
        dims = tuple(d if isinstance(d, int) else -1 for d in node.shape[1:])
        tensors.append(Tensor(node.name, ORT_TO_TRITON[node.type], dims))
    return tensors


def onnx_signature(path: Path) -> tuple[list[Tensor], list[Tensor]]:
    """The graph's inputs (initializers left out, a matrix input with its columns) and outputs."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    try:
        columns = parse_input_columns(session.get_modelmeta().custom_metadata_map.get(INPUT_COLUMNS, ""), str(path))
    except ValueError as err:
        raise UserFacingError(str(err)) from err
    inputs = [Tensor(t.name, t.data_type, t.dims, columns.get(t.name, ())) for t in _tensors(session.get_inputs())]
    unknown = set(columns) - {t.name for t in inputs}
    if unknown:
        raise UserFacingError(f"{path}: {INPUT_COLUMNS} names {', '.join(sorted(unknown))}, not among the inputs")
    return inputs, _tensors(session.get_outputs())
