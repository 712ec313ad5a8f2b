"""A Python-based Triton backend that serves ONNX models with onnxruntime on CPU.

The Triton binary of the nvidia-pytriton wheel holds only the python backend.
Placed at <backend-directory>/onnxruntime/model.py, this file is what a model
with `backend: "onnxruntime"` (and no model.py of its own) runs there; on the
official Triton container the native onnxruntime backend of the same name
takes over, so one config.pbtxt serves on both.

Config knobs, all optional, with the native backend's names:
  default_model_filename: "model.onnx"
  parameters { key: "intra_op_thread_count" value: { string_value: "1" } }
  parameters { key: "inter_op_thread_count" value: { string_value: "1" } }
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


def _int_param(config: dict[str, Any], key: str) -> int:
    """An integer from the config's `parameters`; 0 lets onnxruntime choose."""
    value = config.get("parameters", {}).get(key, {}).get("string_value", "")
    return int(value) if value.strip() else 0


def _bind(config_names: list[str], session_names: list[str], kind: str) -> dict[str, str]:
    """Config tensor names to session tensor names: by name, else by position."""
    if all(name in session_names for name in config_names):
        return {name: name for name in config_names}
    if len(config_names) == len(session_names):
        pb_utils.Logger.log_warn(
            f"{kind} names {config_names} differ from the model's {session_names}; bound by position"
        )
        return dict(zip(config_names, session_names, strict=True))
    raise pb_utils.TritonModelException(f"{kind} names {config_names} do not match the model's {kind}s {session_names}")


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config: dict[str, Any] = json.loads(args["model_config"])
        self.model_name = args["model_name"]
        self.max_batch_size = int(config.get("max_batch_size", 0))

        # args["model_repository"] is this model's own folder, <repo>/<model>.
        filename = config.get("default_model_filename") or "model.onnx"
        path = os.path.join(args["model_repository"], args["model_version"], filename)
        if not os.path.isfile(path):
            raise pb_utils.TritonModelException(f"model file not found: {path}")

        options = ort.SessionOptions()
        options.intra_op_num_threads = _int_param(config, "intra_op_thread_count")
        options.inter_op_num_threads = _int_param(config, "inter_op_thread_count")
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

        input_names = _bind([i["name"] for i in config["input"]], [i.name for i in self.session.get_inputs()], "input")
        # config name -> (session name, numpy dtype)
        self.inputs = {
            i["name"]: (input_names[i["name"]], pb_utils.triton_string_to_numpy(i["data_type"]))
            for i in config["input"]
        }
        output_names = _bind(
            [o["name"] for o in config["output"]], [o.name for o in self.session.get_outputs()], "output"
        )
        # (config name, session name, numpy dtype), in config order
        self.outputs = [
            (o["name"], output_names[o["name"]], pb_utils.triton_string_to_numpy(o["data_type"]))
            for o in config["output"]
        ]
        self.session_output_names = [session_name for _, session_name, _ in self.outputs]
        pb_utils.Logger.log_info(
            f"{self.model_name}: loaded {path} with onnxruntime {ort.__version__} "
            f"(intra_op={options.intra_op_num_threads})"
        )

    def _feeds(self, request: Any) -> dict[str, np.ndarray]:
        """One request's inputs by session name; ValueError names what is wrong."""
        feeds: dict[str, np.ndarray] = {}
        batch: int | None = None
        for name, (session_name, dtype) in self.inputs.items():
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is None:
                raise ValueError(f"missing input '{name}'")
            array = tensor.as_numpy()
            if array.dtype != dtype:
                raise ValueError(f"input '{name}' has dtype {array.dtype}, expected {dtype}")
            if self.max_batch_size > 0:
                if array.ndim == 0 or (batch is not None and array.shape[0] != batch):
                    raise ValueError(f"input '{name}' has an inconsistent batch dimension")
                batch = array.shape[0]
            feeds[session_name] = array
        return feeds

    def _response(self, outputs: list[np.ndarray]) -> Any:
        tensors = [
            pb_utils.Tensor(name, np.ascontiguousarray(out.astype(dtype, copy=False)))
            for (name, _, dtype), out in zip(self.outputs, outputs, strict=True)
        ]
        return pb_utils.InferenceResponse(output_tensors=tensors)

    @staticmethod
    def _error(message: str, code: int | None = None) -> Any:
        error = pb_utils.TritonError(message) if code is None else pb_utils.TritonError(message, code)
        return pb_utils.InferenceResponse(error=error)

    def _run_batched(self, good: list[tuple[int, dict[str, np.ndarray]]], responses: list[Any]) -> bool:
        """One session.run over the whole dynamic batch, split back per request."""
        sizes = [next(iter(feeds.values())).shape[0] for _, feeds in good]
        merged = {
            name: np.concatenate([feeds[name] for _, feeds in good], axis=0) if len(good) > 1 else array
            for name, array in good[0][1].items()
        }
        try:
            outputs = self.session.run(self.session_output_names, merged)
        except Exception as exc:  # one bad request must not fail the others: retry one by one
            pb_utils.Logger.log_warn(f"{self.model_name}: batched run failed ({exc}); retrying singly")
            return False
        bounds = np.cumsum(sizes)[:-1]
        parts = [np.split(out, bounds, axis=0) for out in outputs]
        for k, (index, _) in enumerate(good):
            responses[index] = self._response([part[k] for part in parts])
        return True

    def execute(self, requests: list[Any]) -> list[Any]:
        responses: list[Any] = [None] * len(requests)
        good: list[tuple[int, dict[str, np.ndarray]]] = []
        for index, request in enumerate(requests):
            try:
                good.append((index, self._feeds(request)))
            except ValueError as exc:
                responses[index] = self._error(f"{self.model_name}: {exc}", pb_utils.TritonError.INVALID_ARG)
        if good and self.max_batch_size > 0 and self._run_batched(good, responses):
            return responses
        for index, feeds in good:
            try:
                responses[index] = self._response(self.session.run(self.session_output_names, feeds))
            except Exception as exc:
                responses[index] = self._error(f"{self.model_name}: inference failed: {exc}")
        return responses

    def finalize(self) -> None:
        self.session = None
