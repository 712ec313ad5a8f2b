"""A model version sent from the core to an edge site (`rtai edge publish model`, `rtai edge sync`):
one version's ONNX file of a Triton-layout repository, with its name, version and SHA-256.

At the site it is checked before use: the bytes match the digest, onnxruntime opens the file and
answers a row of zeros with one finite score, and its inputs are the served version's, by name
and type (the site's features feed it). Only then is it written beside the served version and
served alone (config.pbtxt's version_policy), which the in-process scorer follows within seconds
(served_model.REFRESH_S). A rejected update changes nothing: the served version keeps scoring.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from flink_jobs.clients.model_repository import served_versions, with_served_versions
from flink_jobs.clients.onnx_inputs import input_specs
from flink_jobs.clients.served_model import checked_session
from flink_jobs.errors import UserFacingError
from flink_jobs.stages.inference.canary_routing import routes
from rtai.edge.update_rejected import UpdateRejected

KIND = "model"
MODEL_FILE = "model.onnx"  # in-process scoring at a site runs ONNX files only
MAX_BYTES = 4 * 1024 * 1024  # one message, under Pulsar's default maxMessageSize (5 MB)


@dataclass(frozen=True)
class ModelUpdate:
    name: str
    version: int
    onnx: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.onnx).hexdigest()

    def properties(self) -> dict[str, str]:
        return {"kind": KIND, "model": self.name, "version": str(self.version), "sha256": self.sha256}


def read_version(repository: Path, name: str, version: int) -> ModelUpdate:
    """The core side: version `version` of model `name` in `repository`, as an update."""
    path = repository / name / str(version) / MODEL_FILE
    if not path.is_file():
        raise UserFacingError(f"no {path}: an edge site scores ONNX versions only (a TensorRT engine needs Triton)")
    data = path.read_bytes()
    if len(data) > MAX_BYTES:
        raise UserFacingError(f"{path} has {len(data)} bytes; one update carries at most {MAX_BYTES}")
    return ModelUpdate(name, version, data)


def served_version(repository: Path, name: str) -> int:
    """The version `name` serves in `repository` (the champion of its config.pbtxt)."""
    config = repository / name / "config.pbtxt"
    if not config.is_file():
        raise UserFacingError(f"no {config}: register the model first (rtai model register)")
    try:
        versions = [str(v) for v in served_versions(config.read_text())]
    except ValueError as err:
        raise UserFacingError(f"{config}: {err}") from err
    return int(routes(versions, 0, 0).champion)


def from_message(properties: Mapping[str, str], data: bytes) -> ModelUpdate:
    """An update as the site received it; UpdateRejected when it is not whole."""
    try:
        name, version, digest = properties["model"], int(properties["version"]), properties["sha256"]
    except (KeyError, ValueError) as err:
        raise UpdateRejected(f"a model update without a valid {err}: {dict(properties)}") from err
    update = ModelUpdate(name, version, data)
    if version < 1:
        raise UpdateRejected(f"{name} version {version}: versions start at 1")
    if update.sha256 != digest:
        raise UpdateRejected(f"{name} version {version}: its bytes' SHA-256 is {update.sha256}, not the {digest} sent")
    return update


def _inputs(path: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    """Each input's name, element type and matrix columns: what the site's scoring feeds."""
    session = checked_session(path)
    columns = {spec.name: spec.columns for spec in input_specs(session, str(path))}
    return [(node.name, node.type, columns[node.name]) for node in session.get_inputs()]


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    os.replace(partial, path)


def install(update: ModelUpdate, repository: Path, model: str) -> str:
    """Checks `update` against the site's served version of `model` and serves it; what was done.
    UpdateRejected when it must not serve; UserFacingError when the site has no such model."""
    if update.name != model:
        raise UpdateRejected(f"model {update.name!r} is not the pipeline's {model!r}")
    model_dir = repository / model
    served = served_version(repository, model)
    target = model_dir / str(update.version) / MODEL_FILE
    config = model_dir / "config.pbtxt"
    if target.parent.exists() and not target.is_file():
        raise UpdateRejected(f"{model} version {update.version} is here already, without {MODEL_FILE}")
    if target.is_file():
        if hashlib.sha256(target.read_bytes()).hexdigest() != update.sha256:
            raise UpdateRejected(f"{model} version {update.version} is here already, with other bytes")
        if served == update.version:
            return f"{model} version {update.version}: served already"
    else:
        staging = model_dir / f".{update.version}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        (staging / MODEL_FILE).write_bytes(update.onnx)
        try:
            new_inputs = _inputs(staging / MODEL_FILE)
        except UserFacingError as err:
            shutil.rmtree(staging)
            raise UpdateRejected(f"{model} version {update.version}: {err}") from err
        served_inputs = _inputs(model_dir / str(served) / MODEL_FILE)
        if new_inputs != served_inputs:
            shutil.rmtree(staging)
            raise UpdateRejected(
                f"{model} version {update.version} takes {new_inputs}, the served version {served} {served_inputs}"
            )
        os.replace(staging, target.parent)
    _write_atomically(config, with_served_versions(config.read_text(), [update.version]))
    return f"{model} version {update.version}: checked and served (was {served})"
