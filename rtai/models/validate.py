"""`rtai model validate`: a registered version is what its config says and serves like onnxruntime.

1. config.pbtxt parses as Triton's ModelConfig;
2. its inputs and outputs (names, types, dims, a matrix input's columns) equal the model file's
   own signature;
3. the running Triton loads the version through its repository API: the served version and
   this one together, by a config override, so serving never stops; afterwards the config
   on disk is loaded again (also as an override);
4. Triton's outputs on seeded inputs equal onnxruntime's in-process within the tolerance.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import numpy as np
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2
from tritonclient.utils import InferenceServerException

from flink_jobs.clients.model_feeds import INPUT_COLUMNS, parse_input_columns
from flink_jobs.clients.triton_client import TritonClient, TritonRejected, TritonUnavailable
from flink_jobs.errors import UserFacingError
from rtai import env_python
from rtai.models import triton_config
from rtai.models.triton_access import TritonAccess

ROWS = 64


def _config(repository: Path, name: str) -> model_config_pb2.ModelConfig:
    path = repository / name / "config.pbtxt"
    try:
        return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
    except (OSError, text_format.ParseError) as err:
        raise UserFacingError(f"{path}: not a valid Triton model config: {err}") from None


def _check_signature(config: model_config_pb2.ModelConfig, signature: dict[str, list], columns: str) -> None:
    declared = {
        t.name: [model_config_pb2.DataType.Name(t.data_type), list(t.dims)] for t in [*config.input, *config.output]
    }
    if declared != signature:
        raise UserFacingError(f"config.pbtxt declares {declared}, the model file has {signature}")
    declared_columns = config.parameters[INPUT_COLUMNS].string_value if INPUT_COLUMNS in config.parameters else ""
    try:
        same = parse_input_columns(declared_columns, "config.pbtxt") == parse_input_columns(columns, "the model file")
    except ValueError as err:
        raise UserFacingError(str(err)) from None
    if not same:
        raise UserFacingError(f"config.pbtxt's {INPUT_COLUMNS} are {declared_columns!r}, the model file's {columns!r}")


async def _infer(triton: TritonAccess, name: str, version: int, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    client = TritonClient(triton.url, name, version=str(version), retries=1, tls_ca_file=triton.ca_file)
    try:
        return await client.infer(feeds)
    finally:
        await client.close()


def validate(repository: Path, name: str, version: int, triton: TritonAccess, tolerance: float) -> float:
    """The largest difference between Triton and onnxruntime; UserFacingError on any failed check."""
    config = _config(repository, name)
    model_file = repository / name / str(version) / triton_config.MODEL_FILES["onnx"]
    if not model_file.is_file():
        raise UserFacingError(f"{model_file} is missing (validate checks ONNX versions)")
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(tmp) / "reference.npz"
        env_python.run(
            "model",
            *("-m", "rtai.models.reference_outputs", "--model", str(model_file)),
            *("--rows", str(ROWS), "--seed", "0", "--out", str(reference)),
        )
        data = dict(np.load(reference))
    signature = json.loads(str(data.pop("signature")))
    _check_signature(config, signature, str(data.pop("input_columns")))

    served = list(config.version_policy.specific.versions)
    both = model_config_pb2.ModelConfig()
    both.CopyFrom(config)
    both.version_policy.specific.versions[:] = sorted({*served, version})
    client = triton.client()
    try:
        client.load_model(name, headers=triton.admin_headers, config=json_format.MessageToJson(both))
        inputs = {t.name: data[t.name] for t in config.input}
        served_outputs = asyncio.run(_infer(triton, name, version, inputs))
    except (InferenceServerException, TritonRejected, TritonUnavailable, ValueError) as err:
        raise UserFacingError(f"Triton at {triton.url} could not load or run {name} version {version}: {err}") from None
    finally:
        # Back to the config on disk, given explicitly: a plain load is a no-op when nothing on disk changed.
        client.load_model(name, headers=triton.admin_headers, config=json_format.MessageToJson(config))
        client.close()
    worst = max(float(np.abs(served_outputs[t.name] - data[t.name]).max()) for t in config.output)
    if worst > tolerance:
        raise UserFacingError(f"{name} version {version}: Triton differs from onnxruntime by {worst:.2e} > {tolerance}")
    return worst
