"""Optimized variants of a trained ONNX model, each checked against the FP32 reference.

Runs in the model environment (`rtai model optimize` starts it there):
    python -m rtai.models.optimize --model-dir DIR

From DIR/model.onnx (FP32) it writes, beside it:
- model.ort.onnx: onnxruntime's offline-optimized graph (extended level: fusions, constant folding);
- model.int8.onnx: dynamic INT8 quantization of the weights (onnxruntime.quantization);
- model.qdq.onnx: static INT8 with Q/DQ nodes calibrated on the sample (TensorRT's INT8 input);
- model.fp16.onnx: FP16 weights and arithmetic for GPUs after the FP32 scaling, FP32 inputs and outputs;
- model.openvino.xml/.bin: the model in OpenVINO's IR (FP32), run by the OpenVINO runtime on CPU;
- model.openvino-int8.xml/.bin: the IR quantized to INT8 by NNCF's post-training quantization,
  calibrated on the sample;
- model.plan: a TensorRT engine, only where a CUDA GPU is present (rtai.models.tensorrt).
Each variant runs on the fixed sample DIR/sample.parquet, on one thread, in its own runtime
(onnxruntime, or OpenVINO's); the table (file size, in-process latency at batch 1 and 256, max abs
difference and AUC against the reference) is printed and saved as DIR/optimization.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import nncf
import numpy as np
import onnx
import onnxruntime as ort
import openvino as ov
import pandas as pd
from onnxconverter_common import float16
from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
from sklearn.metrics import roc_auc_score

from flink_jobs.clients.model_feeds import TensorSpec, feed_names, model_arrays
from flink_jobs.clients.onnx_inputs import input_specs
from rtai.gpu import gpu_problem

LATENCY_RUNS = 200
OUTPUT = "fraud_score"


def ort_optimized(source: Path, target: Path) -> None:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target)
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def int8_dynamic(source: Path, target: Path) -> None:
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])


class _SampleReader:
    """Calibration batches for static quantization: the sample, 256 rows at a time."""

    def __init__(self, sample: pd.DataFrame, specs: Sequence[TensorSpec]) -> None:
        self.batches = iter(
            [
                _feeds(sample.iloc[start : start + 256], specs, len(sample.iloc[start : start + 256]))
                for start in range(0, len(sample), 256)
            ]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def int8_static_qdq(source: Path, target: Path, sample: pd.DataFrame, specs: Sequence[TensorSpec]) -> None:
    """Static INT8 with explicit QuantizeLinear/DequantizeLinear nodes: what TensorRT's INT8 build reads."""
    # Only the MatMuls: they see scaled values; the raw inputs span up to 1e6 and would not survive INT8.
    quantize_static(
        str(source),
        str(target),
        _SampleReader(sample, specs),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
    )


def fp16(source: Path, target: Path) -> None:
    # The scaling stays FP32: raw inputs such as seconds_since_prev_txn pass FP16's 65,504 and would be inf.
    model = onnx.load(str(source))
    for index, node in enumerate(model.graph.node):
        node.name = node.name or f"{node.op_type}_{index}"  # the converter's cast clean-up needs names
    model = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=["Concat", "Sub", "Div"])
    onnx.save(model, str(target))


VARIANTS: dict[str, tuple[str, Callable[[Path, Path], None]]] = {
    "onnxruntime_optimized": ("model.ort.onnx", ort_optimized),
    "int8_dynamic": ("model.int8.onnx", int8_dynamic),
    "fp16": ("model.fp16.onnx", fp16),
}


def _feeds(sample: pd.DataFrame, specs: Sequence[TensorSpec], rows: int) -> dict[str, np.ndarray]:
    picked = sample.iloc[np.arange(rows) % len(sample)]
    columns = {name: picked[name].to_numpy(np.float32) for name in feed_names(specs)}
    return {spec.name: array for spec, array in model_arrays("the trained model", specs, columns, rows)}


Scoring = Callable[[dict[str, np.ndarray]], np.ndarray]  # feeds -> the scores, one per row


def _latency_ms(score: Scoring, feeds: dict[str, np.ndarray]) -> float:
    score(feeds)  # warm-up
    times = []
    for _ in range(LATENCY_RUNS):
        started = time.perf_counter()
        score(feeds)
        times.append((time.perf_counter() - started) * 1000)
    return round(float(np.median(times)), 4)


def _figures(
    files: list[Path], score: Scoring, sample: pd.DataFrame, specs: Sequence[TensorSpec], reference: np.ndarray
) -> dict[str, object]:
    scores = score(_feeds(sample, specs, len(sample)))
    labels = sample["is_fraud"].to_numpy()
    return {
        "file": files[0].name,
        "size_kb": round(sum(f.stat().st_size for f in files) / 1024, 1),
        "latency_ms_batch_1": _latency_ms(score, _feeds(sample, specs, 1)),
        "latency_ms_batch_256": _latency_ms(score, _feeds(sample, specs, 256)),
        "max_abs_difference": float(np.abs(scores - reference).max()),
        "auc": round(float(roc_auc_score(labels, scores)), 5),
    }


def measure(path: Path, sample: pd.DataFrame, specs: Sequence[TensorSpec], reference: np.ndarray) -> dict[str, object]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # per-request latency on one core, as a Triton instance would use it
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return _figures([path], lambda feeds: session.run([OUTPUT], feeds)[0][:, 0], sample, specs, reference)


def openvino_ir(
    source: Path, target: Path, sample: pd.DataFrame | None = None, specs: Sequence[TensorSpec] | None = None
) -> None:
    """The ONNX model in OpenVINO's IR; with a sample, quantized to INT8 by NNCF, calibrated on it."""
    model = ov.convert_model(str(source))
    if sample is not None and specs is not None:
        batches = [
            _feeds(sample.iloc[start : start + 256], specs, min(256, len(sample) - start))
            for start in range(0, len(sample), 256)
        ]
        # The scaling (Multiply/Add after conversion) and a Concat of input columns stay FP32: the
        # raw inputs span up to 1e6 and would not survive INT8 (quantized, the scores moved by up to
        # 1.0 here; kept: 0.09).
        keep = nncf.IgnoredScope(types=["Concat", "Multiply", "Add"], validate=False)
        model = nncf.quantize(model, nncf.Dataset(batches), subset_size=len(batches), ignored_scope=keep)
    ov.save_model(model, str(target), compress_to_fp16=False)


def measure_openvino(
    path: Path, sample: pd.DataFrame, specs: Sequence[TensorSpec], reference: np.ndarray
) -> dict[str, object]:
    # f32 precision: the CPU plugin's default may run FP32 models in lower precision (6.6e-3 off here).
    settings = {"INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32"}
    compiled = ov.Core().compile_model(str(path), "CPU", settings)
    request = compiled.create_infer_request()
    output = compiled.output(OUTPUT)

    def score(feeds: dict[str, np.ndarray]) -> np.ndarray:
        return request.infer(feeds, share_inputs=True)[output][:, 0].copy()

    return _figures([path, path.with_suffix(".bin")], score, sample, specs, reference)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's advice on pre-processing, at every call
    nncf.set_log_level(logging.ERROR)  # and NNCF's notes on each quantizer it places

    source = args.model_dir / "model.onnx"
    specs = input_specs(ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]), str(source))
    sample = pd.read_parquet(args.model_dir / "sample.parquet")
    reference = sample["reference_score"].to_numpy()
    rows = {"fp32": measure(source, sample, specs, reference)}
    for name, (file_name, build) in VARIANTS.items():
        build(source, args.model_dir / file_name)
        rows[name] = measure(args.model_dir / file_name, sample, specs, reference)
    int8_static_qdq(source, args.model_dir / "model.qdq.onnx", sample, specs)
    rows["int8_static_qdq"] = measure(args.model_dir / "model.qdq.onnx", sample, specs, reference)
    openvino_ir(source, args.model_dir / "model.openvino.xml")
    rows["openvino_fp32"] = measure_openvino(args.model_dir / "model.openvino.xml", sample, specs, reference)
    openvino_ir(source, args.model_dir / "model.openvino-int8.xml", sample, specs)
    rows["openvino_int8"] = measure_openvino(args.model_dir / "model.openvino-int8.xml", sample, specs, reference)
    base_auc = rows["fp32"]["auc"]
    for row in rows.values():
        row["auc_delta"] = round(row["auc"] - base_auc, 5)
    gpu = gpu_problem()
    table = {"sample_rows": len(sample), "variants": rows, "tensorrt": gpu or "available: rtai model tensorrt"}
    (args.model_dir / "optimization.json").write_text(json.dumps(table, indent=2) + "\n")

    print(f"{'variant':<24}{'size KB':>9}{'ms @1':>9}{'ms @256':>10}{'max |diff|':>12}{'AUC':>9}{'dAUC':>9}")
    for name, row in rows.items():
        print(
            f"{name:<24}{row['size_kb']:>9}{row['latency_ms_batch_1']:>9.3f}{row['latency_ms_batch_256']:>10.3f}"
            f"{row['max_abs_difference']:>12.2e}{row['auc']:>9.4f}{row['auc_delta']:>+9.4f}"
        )
    print(f"{'tensorrt (model.plan)':<24}{gpu or 'build with `rtai model tensorrt`'}")
    print(f"sample: {len(sample):,} holdout rows; saved {args.model_dir / 'optimization.json'}")


if __name__ == "__main__":
    main()
