"""A TensorRT engine (model.plan) from the model's ONNX graph, where a CUDA GPU is present.

Runs in the model environment (`rtai model tensorrt` starts it there):
    python -m rtai.models.tensorrt --model-dir DIR --precision fp16|int8 --max-batch-size N

FP16 builds from model.onnx with the FP16 flag. INT8 builds from model.qdq.onnx, the
statically quantized graph with explicit Q/DQ nodes that `rtai model optimize` calibrates on
the sample, so TensorRT needs no calibrator of its own. The engine takes batches of 1 to N
rows (one optimization profile). The written engine is loaded back with TensorRT's runtime and its
tensors checked against the ONNX graph's. Register it with
`rtai model register --kind tensorrt_plan --model DIR/model.plan --signature-from DIR/model.onnx`.
Without a CUDA GPU it stops with one line saying so, and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rtai.gpu import gpu_problem

SOURCES = {"fp16": "model.onnx", "int8": "model.qdq.onnx"}


def build(source: Path, target: Path, precision: str, max_batch_size: int) -> None:
    try:
        import tensorrt as trt
    except ImportError:
        raise SystemExit(
            "error: the tensorrt package is not installed in the model environment: pip install tensorrt"
        ) from None
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch: the ONNX graph's own dynamic first dimension
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(source.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise SystemExit(f"error: TensorRT cannot parse {source}: {errors}")
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        rest = tuple(tensor.shape)[1:]
        profile.set_shape(tensor.name, (1, *rest), (max(1, max_batch_size // 4), *rest), (max_batch_size, *rest))
    config.add_optimization_profile(profile)
    config.set_flag(trt.BuilderFlag.FP16 if precision == "fp16" else trt.BuilderFlag.INT8)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise SystemExit(f"error: TensorRT could not build an engine from {source}")
    target.write_bytes(bytes(engine))


def engine_tensors(plan: Path) -> set[str]:
    """The input and output names of a serialized engine, as TensorRT's runtime loads it."""
    import tensorrt as trt

    engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(plan.read_bytes())
    if engine is None:
        raise SystemExit(f"error: TensorRT cannot load the engine it wrote: {plan}")
    return {engine.get_tensor_name(index) for index in range(engine.num_io_tensors)}


def onnx_tensors(model: Path) -> set[str]:
    import onnx

    graph = onnx.load(str(model)).graph
    return {tensor.name for tensor in (*graph.input, *graph.output)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--precision", choices=sorted(SOURCES), required=True)
    parser.add_argument("--max-batch-size", type=int, required=True)
    args = parser.parse_args(argv)
    problem = gpu_problem()
    if problem:
        print(f"error: TensorRT engine not built: {problem}", file=sys.stderr)
        raise SystemExit(2)
    source = args.model_dir / SOURCES[args.precision]
    if not source.is_file():
        raise SystemExit(f"error: {source} is missing: run `rtai model optimize` first")
    build(source, args.model_dir / "model.plan", args.precision, args.max_batch_size)
    names = engine_tensors(args.model_dir / "model.plan")
    expected = onnx_tensors(args.model_dir / "model.onnx")
    if names != expected:
        raise SystemExit(f"error: the engine's tensors {sorted(names)} are not the model's {sorted(expected)}")
    print(f"wrote {args.model_dir / 'model.plan'} ({args.precision}, batch 1 to {args.max_batch_size})")


if __name__ == "__main__":
    main()
