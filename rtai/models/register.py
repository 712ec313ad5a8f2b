"""Registers a model file as the next version of a model in a Triton repository.

Runs in the model environment (`rtai model register` starts it there): the inputs and
outputs of config.pbtxt are read from the ONNX graph itself (for a TensorRT engine, from the
ONNX it was built from). The new version serves at once when --serve is given or when the
model is new; otherwise the served version stays and `rtai model promote` switches.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import onnx

from flink_jobs.clients import model_repository
from rtai.models import triton_config
from rtai.models.triton_config import MODEL_FILES, Serving, Tensor


def _tensors(values: list[onnx.ValueInfoProto], initializers: set[str]) -> list[Tensor]:
    tensors = []
    for value in values:
        if value.name in initializers:
            continue
        kind = value.type.tensor_type.elem_type
        if kind not in triton_config.ONNX_TO_TRITON:
            raise SystemExit(f"{value.name}: ONNX element type {kind} has no Triton data type here")
        dims = value.type.tensor_type.shape.dim
        if not dims or dims[0].HasField("dim_value"):
            raise SystemExit(f"{value.name}: the first dimension must be the (dynamic) batch dimension")
        rest = [d.dim_value if d.HasField("dim_value") else -1 for d in dims[1:]]
        tensors.append(Tensor(value.name, triton_config.ONNX_TO_TRITON[kind], tuple(rest)))
    return tensors


def onnx_signature(path: Path) -> tuple[list[Tensor], list[Tensor]]:
    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    return _tensors(list(graph.input), initializers), _tensors(list(graph.output), set())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="model.onnx or model.plan")
    parser.add_argument("--kind", choices=sorted(MODEL_FILES), required=True)
    parser.add_argument("--signature-from", type=Path, help="for a TensorRT engine: the ONNX it was built from")
    parser.add_argument("--repository", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--max-batch-size", type=int, required=True)
    parser.add_argument("--preferred-batch-sizes", type=int, nargs="+", required=True)
    parser.add_argument("--max-queue-delay-us", type=int, required=True)
    parser.add_argument("--instances", type=int, required=True)
    parser.add_argument("--serve", action="store_true", help="serve the new version at once")
    args = parser.parse_args(argv)

    inputs, outputs = onnx_signature(args.signature_from or args.model)
    model_dir = args.repository / args.name
    existing = triton_config.versions(model_dir)
    version = (existing[-1] + 1) if existing else 1
    config_file = model_dir / "config.pbtxt"
    served = version
    if not args.serve and existing and config_file.is_file():
        served = model_repository.served_versions(config_file.read_text())[0]
    serving = Serving(args.max_batch_size, tuple(args.preferred_batch_sizes), args.max_queue_delay_us, args.instances)
    text = triton_config.render(args.name, args.kind, inputs, outputs, serving, served)
    (model_dir / str(version)).mkdir(parents=True)
    shutil.copyfile(args.model, model_dir / str(version) / MODEL_FILES[args.kind])
    config_file.write_text(text)
    print(f"registered {args.name} version {version} in {args.repository}; serving version {served}")


if __name__ == "__main__":
    main()
