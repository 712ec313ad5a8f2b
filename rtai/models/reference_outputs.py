"""A model's signature and its outputs from onnxruntime in-process on seeded inputs: the
reference `rtai model validate` holds Triton's answers against.

Runs in the model environment:
    python -m rtai.models.reference_outputs --model model.onnx --rows 64 --seed 0 --out reference.npz
The .npz holds every input and output by name, `signature` (JSON: name -> [type, dims]) and
`input_columns` (a matrix input's columns, as the model's metadata names them: model_feeds.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from flink_jobs.clients.model_feeds import input_columns_text
from rtai.models.signature import Tensor, onnx_signature

NUMPY = {"TYPE_FP32": np.float32, "TYPE_FP16": np.float16, "TYPE_FP64": np.float64, "TYPE_INT32": np.int32}
NUMPY |= {"TYPE_INT64": np.int64, "TYPE_BOOL": np.bool_}


def seeded_feeds(inputs: list[Tensor], rows: int, seed: int) -> dict[str, np.ndarray]:
    """Inputs of `rows` rows for a signature, the same for the same seed: normal floats, small integers."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for tensor in inputs:
        shape = (rows, *(d if d > 0 else 1 for d in tensor.dims))
        dtype = NUMPY[tensor.data_type]
        values = rng.normal(size=shape) if np.issubdtype(dtype, np.floating) else rng.integers(0, 10, size=shape)
        feeds[tensor.name] = values.astype(dtype)
    return feeds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    inputs, outputs = onnx_signature(args.model)
    feeds = seeded_feeds(inputs, args.rows, args.seed)
    session = ort.InferenceSession(str(args.model), providers=["CPUExecutionProvider"])
    results = dict(zip([t.name for t in outputs], session.run([t.name for t in outputs], feeds), strict=True))
    signature = {t.name: [t.data_type, list(t.dims)] for t in [*inputs, *outputs]}
    columns = input_columns_text({t.name: t.columns for t in inputs if t.columns})
    np.savez(args.out, signature=np.array(json.dumps(signature)), input_columns=np.array(columns), **feeds, **results)


if __name__ == "__main__":
    main()
