"""A model's inputs as an onnxruntime session reads them: types, dims and a matrix input's
columns from the model's metadata (model_feeds.py). Imported only where onnxruntime is wanted
(in-process scoring, the model tools), never by the Triton client's callers."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from flink_jobs.clients.model_feeds import INPUT_COLUMNS, TensorSpec, parse_input_columns, with_columns

NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64}


def tensor_specs(nodes: list[ort.NodeArg]) -> tuple[TensorSpec, ...]:
    return tuple(
        TensorSpec(
            n.name,
            np.dtype(NUMPY_TYPES.get(n.type, np.float32)),
            tuple(d if isinstance(d, int) else -1 for d in n.shape[1:]),
        )
        for n in nodes
    )


def input_specs(session: ort.InferenceSession, where: str) -> tuple[TensorSpec, ...]:
    """The session's inputs, a matrix input with the columns the model's metadata names."""
    text = session.get_modelmeta().custom_metadata_map.get(INPUT_COLUMNS, "")
    return with_columns(tensor_specs(session.get_inputs()), parse_input_columns(text, where), where)
