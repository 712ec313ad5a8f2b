"""Registers a model file as the next version of a model in a Triton repository.

The inputs and outputs of config.pbtxt are read from the ONNX graph itself (for a TensorRT
engine, from the ONNX it was built from). The new version serves at once when `serve` is given
or when the model is new; otherwise the served version stays and `rtai model promote` switches.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as pb

from flink_jobs.clients import model_repository
from flink_jobs.errors import UserFacingError
from rtai.models import triton_config
from rtai.models.signature import onnx_signature
from rtai.models.triton_config import MODEL_FILES, Serving


def register_version(
    model: Path, kind: str, repository: Path, name: str, serving: Serving, *, signature_from: Path | None, serve: bool
) -> tuple[int, int]:
    """Copies `model` in as the next version with a config.pbtxt; (the new version, the served one)."""
    inputs, outputs = onnx_signature(signature_from or model)
    model_dir = repository / name
    existing = triton_config.versions(model_dir)
    version = (existing[-1] + 1) if existing else 1
    config_file = model_dir / "config.pbtxt"
    served = version
    if not serve and existing and config_file.is_file():
        served = model_repository.served_versions(config_file.read_text())[0]
    config = triton_config.model_config(name, kind, inputs, outputs, serving, served)
    if existing and config_file.is_file():
        current = text_format.Parse(config_file.read_text(), pb.ModelConfig())
        if triton_config.io_layout(current) != triton_config.io_layout(config):
            raise UserFacingError(
                f"{model}'s inputs or outputs differ from {config_file}'s: a model's versions share one config, "
                f"and Triton would serve version(s) {', '.join(map(str, existing))} with the new layout. Register it "
                f"as a new model (its own name and folder), or retire the old versions first"
            )
    text = triton_config.HEADER + text_format.MessageToString(config)
    (model_dir / str(version)).mkdir(parents=True)
    shutil.copyfile(model, model_dir / str(version) / MODEL_FILES[kind])
    config_file.write_text(text)
    return version, served
