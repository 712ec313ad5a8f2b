"""Tiny ONNX models built in the tests, so Triton and onnxruntime can be compared on them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from flink_jobs.clients.model_feeds import INPUT_COLUMNS, input_columns_text


def write_logistic_model(path: Path, features: int, seed: int) -> None:
    """y = sigmoid(x @ W + b): input "x" FP32 [batch, features], output "y" FP32 [batch, 1]."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(features, 1)).astype(np.float32)
    bias = rng.normal(size=(1,)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["logit"]),
            helper.make_node("Sigmoid", ["logit"], ["y"]),
        ],
        "logistic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        initializer=[numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")],
    )
    _save(graph, path)


def logistic_config(name: str, features: int, max_batch_size: int = 256) -> str:
    return f"""name: "{name}"
backend: "onnxruntime"
max_batch_size: {max_batch_size}
input [ {{ name: "x", data_type: TYPE_FP32, dims: [ {features} ] }} ]
output [ {{ name: "y", data_type: TYPE_FP32, dims: [ 1 ] }} ]
dynamic_batching {{ max_queue_delay_microseconds: 500 }}
instance_group [ {{ kind: KIND_CPU, count: 1 }} ]
"""


def _feature_inputs(columns: list[str], layout: str) -> tuple[list[onnx.NodeProto], list[onnx.ValueInfoProto]]:
    """The graph's inputs and the nodes that make them one [batch, F] tensor "features": one
    matrix input named "features" whose columns the metadata names (layout "matrix", as the fraud
    model), or one [batch, 1] input per column, concatenated (layout "columns", the earlier one)."""
    if layout == "matrix":
        return [], [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, len(columns)])]
    concat = helper.make_node("Concat", columns, ["features"], axis=1)
    return [concat], [helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, 1]) for name in columns]


def write_columns_model(path: Path, columns: list[str], seed: int, scale: float = 1.0, layout: str = "matrix") -> None:
    """Like the fraud model: the columns as `layout` says (_feature_inputs), then "score" =
    sigmoid(features @ W + b), FP32 [batch, 1]; W and b drawn from `seed`, times `scale` (0:
    every score 0.5)."""
    rng = np.random.default_rng(seed)
    weights = (rng.normal(size=(len(columns), 1)) * scale).astype(np.float32)
    bias = (rng.normal(size=(1,)) * scale).astype(np.float32)
    nodes, inputs = _feature_inputs(columns, layout)
    graph = helper.make_graph(
        [
            *nodes,
            helper.make_node("MatMul", ["features", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["logit"]),
            helper.make_node("Sigmoid", ["logit"], ["score"]),
        ],
        "columns",
        inputs,
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [None, 1])],
        initializer=[numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")],
    )
    _save(graph, path, columns if layout == "matrix" else None)


def write_square_root_model(path: Path, columns: list[str], column: str, limit: float) -> None:
    """The fraud model's input, "score" = sqrt(limit - the column `column`): not a number for a
    value above `limit` (a model whose output a job must not pass on as a score)."""
    selector = np.zeros((len(columns), 1), np.float32)
    selector[columns.index(column), 0] = 1.0
    nodes, inputs = _feature_inputs(columns, "matrix")
    graph = helper.make_graph(
        [
            *nodes,
            helper.make_node("MatMul", ["features", "selector"], ["value"]),
            helper.make_node("Sub", ["limit", "value"], ["headroom"]),
            helper.make_node("Sqrt", ["headroom"], ["score"]),
        ],
        "square_root",
        inputs,
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [None, 1])],
        initializer=[
            numpy_helper.from_array(selector, "selector"),
            numpy_helper.from_array(np.array([limit], np.float32), "limit"),
        ],
    )
    _save(graph, path, columns)


def onnx_scores(model: Path, rows: list[dict[str, float]]) -> np.ndarray:
    """onnxruntime's first output for rows of named features, one score a row: the matrix the
    model's metadata names the columns of, or one [batch, 1] input per column."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    matrices = json.loads(session.get_modelmeta().custom_metadata_map.get(INPUT_COLUMNS, "{}"))
    feeds = {
        i.name: np.array([[r[c] for c in matrices[i.name]] for r in rows], np.float32)
        if i.name in matrices
        else np.array([[r[i.name]] for r in rows], np.float32)
        for i in session.get_inputs()
    }
    return session.run(None, feeds)[0][:, 0]


def model_repository(tmp_path: Path, columns: list[str], versions: dict[int, bytes | None], served: int) -> Path:
    """tmp_path/repo with fraud_mlp: each version's model.onnx (None: a generated model over
    `columns`, seeded by its version, or the bytes given) and `served` in its version policy."""
    model_dir = tmp_path / "repo" / "fraud_mlp"
    for version, content in versions.items():
        (model_dir / str(version)).mkdir(parents=True)
        path = model_dir / str(version) / "model.onnx"
        if content is None:
            write_columns_model(path, columns, seed=version)
        else:
            path.write_bytes(content)
    (model_dir / "config.pbtxt").write_text(
        f'name: "fraud_mlp"\nversion_policy: {{ specific: {{ versions: [ {served} ] }} }}\n'
    )
    return tmp_path / "repo"


def _save(graph: onnx.GraphProto, path: Path, matrix_columns: list[str] | None = None) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by the onnxruntime of every environment
    if matrix_columns is not None:
        helper.set_model_props(model, {INPUT_COLUMNS: input_columns_text({"features": matrix_columns})})
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
