"""`rtai model train` on a small generated history through the real Feast training-set flow:
deterministic for a seed, a time-based holdout, and an ONNX graph of standard operators only."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest

from flink_jobs.stages.inference.request_features import REQUEST_FEATURES
from rtai.gpu import gpu_problem
from tests.stack_helpers import cli, copy_of_feature_repo, isolated_env, isolated_stack_toml

# Where a CUDA GPU is, the TensorRT tests build an engine; elsewhere they check the clean refusal.
GPU_PROBLEM = gpu_problem()
TENSORRT_FRIENDLY = {"Concat", "Sub", "Div", "MatMul", "Add", "Relu", "Sigmoid"}
HISTORY_END = "2026-11-30T00:00:00Z"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("model")
    repo = copy_of_feature_repo(tmp)
    env = isolated_env(tmp, isolated_stack_toml({"feast": {"feature_repo": str(repo)}}))
    history, training_set = tmp / "history.parquet", tmp / "training.parquet"
    steps = [
        # A fixed end: the history (and so the model and its quantized variants) is the same on
        # every run, not one that moves with the hour the test runs in.
        ("generate", "history", "--out", str(history), "--days", "8", "--events-per-day", "6000", "--end", HISTORY_END),
        ("features", "backfill", "--history", str(history)),
        ("features", "apply"),
        ("features", "training-set", "--history", str(history), "--out", str(training_set)),
    ]
    for step in steps:
        result = cli(*step, env=env)
        assert result.returncode == 0, f"{step}: {result.stderr[-2000:]}"
    outputs = []
    for run in ("first", "second"):
        out = tmp / run
        result = cli(
            "model", "train", "--training-set", str(training_set), "--out", str(out), "--holdout-days", "2", env=env
        )
        assert result.returncode == 0, result.stderr[-2000:]
        outputs.append(out)
    return training_set, outputs


def test_the_same_seed_gives_the_same_model(trained):
    _, (first, second) = trained
    assert (first / "model.onnx").read_bytes() == (second / "model.onnx").read_bytes()


def test_holdout_is_the_last_days_and_the_model_separates_fraud(trained):
    training_set, (first, _) = trained
    report = json.loads((first / "report.json").read_text())
    frame = pd.read_parquet(training_set)
    cut = frame["event_time"].max() - pd.Timedelta(days=2)
    assert report["holdout"]["holdout_rows"] == int((frame["event_time"] > cut).sum())
    assert report["train_rows"] == int((frame["event_time"] <= cut).sum())
    assert report["holdout"]["roc_auc"] > 0.9
    assert 0 < report["holdout"]["pr_auc"] <= 1


def test_onnx_graph_has_one_matrix_input_and_standard_operators(trained):
    _, (first, _) = trained
    model = onnx.load(first / "model.onnx")
    report = json.loads((first / "report.json").read_text())
    [matrix] = model.graph.input
    assert matrix.name == "features"
    assert [d.dim_value for d in matrix.type.tensor_type.shape.dim][1:] == [len(report["columns"])]
    assert report["columns"][: len(REQUEST_FEATURES)] == list(REQUEST_FEATURES)
    assert {node.op_type for node in model.graph.node} <= TENSORRT_FRIENDLY
    assert all(node.domain == "" for node in model.graph.node)
    # The sample's reference scores are what onnxruntime gives for its rows.
    sample = pd.read_parquet(first / "sample.parquet")
    session = ort.InferenceSession(str(first / "model.onnx"), providers=["CPUExecutionProvider"])
    # Its columns, in the metadata, are the report's.
    metadata = session.get_modelmeta().custom_metadata_map
    assert json.loads(metadata["input_columns"]) == {"features": report["columns"]}
    scores = session.run(["fraud_score"], {"features": sample[report["columns"]].to_numpy(np.float32)})[0][:, 0]
    np.testing.assert_allclose(scores, sample["reference_score"].to_numpy(), atol=1e-6)


def test_optimize_writes_every_cpu_variant_checked_against_fp32(trained):
    """ONNX Runtime's variants and OpenVINO's (its IR in FP32, and INT8 by NNCF), each against FP32."""
    _, (first, _) = trained
    result = cli("model", "optimize", "--model-dir", str(first))
    assert result.returncode == 0, result.stderr[-2000:]
    table = json.loads((first / "optimization.json").read_text())
    variants = table["variants"]
    int8 = ("int8_dynamic", "fp16", "int8_static_qdq", "openvino_int8")
    assert set(variants) == {"fp32", "onnxruntime_optimized", "openvino_fp32", *int8}
    assert variants["fp32"]["max_abs_difference"] == 0.0
    for name in ("onnxruntime_optimized", "openvino_fp32"):  # the same arithmetic in another runtime
        assert variants[name]["max_abs_difference"] < 1e-5, name
    assert (first / "model.openvino.bin").is_file()
    for name in int8:
        assert variants[name]["max_abs_difference"] < 0.25, name
        assert abs(variants[name]["auc_delta"]) < 0.02, name
        assert (first / variants[name]["file"]).is_file()
    assert all(row["latency_ms_batch_256"] > 0 for row in variants.values())
    assert table["tensorrt"] == (GPU_PROBLEM or "available: rtai model tensorrt")
    assert "int8_static_qdq" in result.stdout


def test_tensorrt_builds_an_engine_on_a_gpu_and_stops_with_one_line_without(trained):
    _, (first, _) = trained
    result = cli("model", "tensorrt", "--model-dir", str(first), "--precision", "fp16")
    if GPU_PROBLEM is None:
        # The engine is built, loaded back by TensorRT's runtime and its tensors checked against
        # the ONNX graph (rtai.models.tensorrt). Serving it needs Triton's native TensorRT backend
        # (the official container); the wheel's Triton here has the Python backend only.
        assert result.returncode == 0, result.stderr[-2000:]
        assert (first / "model.plan").stat().st_size > 0
        return
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith("error: TensorRT engine not built: no CUDA GPU found")
    assert not (first / "model.plan").exists()
