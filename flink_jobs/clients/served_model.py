"""The model version Triton serves, run in the caller's own process with onnxruntime (the scoring
API's, or an edge site's inference job with `serving = "in_process"`): the same file from the same
repository (the champion when several versions are served), checked when loaded (it must open
and answer a row of zeros) and loaded again when the served version changes (read every
REFRESH_S); a version that fails the check is not used, the one before keeps scoring."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from flink_jobs.clients.model_feeds import TensorSpec, feed_names, model_arrays
from flink_jobs.clients.model_repository import served_versions
from flink_jobs.clients.onnx_inputs import NUMPY_TYPES, input_specs
from flink_jobs.errors import UserFacingError
from flink_jobs.stages.inference.canary_routing import routes

log = logging.getLogger(__name__)
REFRESH_S = 2.0


@dataclass(frozen=True)
class LoadedModel:
    version: str
    session: ort.InferenceSession
    output: str
    inputs: tuple[TensorSpec, ...]


def _zeros(node: ort.NodeArg) -> np.ndarray:
    """One row of zeros for a model input: the batch dimension 1, any other dynamic one 1."""
    if node.type not in NUMPY_TYPES:
        raise ValueError(f"input {node.name} has type {node.type}, which no scoring path feeds")
    return np.zeros([d if isinstance(d, int) else 1 for d in node.shape], NUMPY_TYPES[node.type])


def checked_session(path: Path) -> ort.InferenceSession:
    """An onnxruntime session on the ONNX file at path, once it has answered a row of zeros with
    one finite score; a UserFacingError naming the file otherwise."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        output = session.get_outputs()[0].name
        answer = session.run([output], {i.name: _zeros(i) for i in session.get_inputs()})[0]
        input_specs(session, str(path))
    except Exception as err:  # onnxruntime's own error types: a file it cannot load or run
        raise UserFacingError(f"{path}: onnxruntime cannot score with it: {err}") from err
    if answer.shape[0] != 1 or not np.all(np.isfinite(answer.astype(np.float64))):
        raise UserFacingError(f"{path}: a row of zeros gave {answer!r}, not one finite score")
    return session


class ServedModel:
    def __init__(
        self, repository: Path, name: str, candidate_version: int = 0, shadow_version: int = 0, *, setting: str
    ) -> None:
        """setting: the config key that chose in-process scoring, named in errors."""
        self.model_dir, self.setting = repository / name, setting
        self.roles = (candidate_version, shadow_version)
        self.loaded = self._load()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._follow, daemon=True, name="served-model")
        self.thread.start()

    def _champion(self) -> str:
        served = [str(v) for v in served_versions((self.model_dir / "config.pbtxt").read_text())]
        return routes(served, *self.roles).champion

    def _load(self) -> LoadedModel:
        version = self._champion()
        path = self.model_dir / version / "model.onnx"
        if not path.is_file():
            raise UserFacingError(
                f"{self.setting} = in_process needs an ONNX model: no {path} (a TensorRT engine runs on Triton only)"
            )
        session = checked_session(path)
        log.info("scoring in process with %s version %s", self.model_dir.name, version)
        return LoadedModel(version, session, session.get_outputs()[0].name, input_specs(session, str(path)))

    def _follow(self) -> None:
        while not self.stopping.wait(REFRESH_S):
            try:
                if self._champion() != self.loaded.version:
                    self.loaded = self._load()
            except (OSError, ValueError, UserFacingError) as err:
                log.warning("served model not reloaded, keeping version %s: %s", self.loaded.version, err)

    def feed_names(self) -> list[str]:
        """The columns the loaded version reads (model_feeds.feed_names)."""
        return feed_names(self.loaded.inputs)

    def score(self, columns: dict[str, np.ndarray]) -> tuple[np.ndarray, str]:
        """Scores of the rows of `columns` and the version that computed them."""
        model = self.loaded
        rows = len(next(iter(columns.values())))
        feeds = {spec.name: array for spec, array in model_arrays(self.model_dir.name, model.inputs, columns, rows)}
        return model.session.run([model.output], feeds)[0].reshape(-1), model.version

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
