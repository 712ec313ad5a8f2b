"""The inference job's model calls answered in its own process (`serving = "in_process"`), for a
box without Triton (an edge site): the calls TritonClient answers (signature, loaded versions,
scores with the version that computed them), by onnxruntime on the champion of the same model
repository (ServedModel). No network and so no retries; in-process scoring serves the champion
only (no canary, no shadow: the pipeline config refuses them)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from flink_jobs.clients.call_stats import CallStats
from flink_jobs.clients.model_feeds import model_arrays
from flink_jobs.clients.onnx_inputs import tensor_specs
from flink_jobs.clients.served_model import ServedModel
from flink_jobs.clients.triton_client import Inference, ModelSignature


class InProcessClient:
    def __init__(self, repository: Path, model: str) -> None:
        self.model, self.repository = model, repository
        self.served: ServedModel | None = None
        self.signature: ModelSignature | None = None
        self.stats = CallStats()

    async def connect(self) -> ModelSignature:
        """Loads and checks the champion (a clear error, at start, when it cannot score)."""
        self.served = ServedModel(self.repository, self.model, setting="inference_job.serving")
        loaded = self.served.loaded
        self.signature = ModelSignature(
            self.model, loaded.version, loaded.inputs, tensor_specs(loaded.session.get_outputs()), 0
        )
        return self.signature

    async def loaded_versions(self) -> list[str]:
        assert self.served is not None
        return [self.served.loaded.version]

    async def infer(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return (await self.infer_rows(columns)).outputs

    async def infer_rows(
        self, columns: Mapping[str, np.ndarray], *, version: str | None = None, retry: bool = True
    ) -> Inference:
        """Every row's outputs, in row order, from the champion loaded now (`version` and `retry`
        are TritonClient's; one version is loaded here)."""
        if self.served is None:
            await self.connect()
        assert self.served is not None and self.signature is not None
        rows = len(next(iter(columns.values())))
        loaded = self.served.loaded  # one version for the whole batch, even if a reload lands meanwhile
        feeds = {spec.name: array for spec, array in model_arrays(self.model, loaded.inputs, columns, rows)}
        if rows == 0:
            return Inference({spec.name: np.empty((0, *spec.dims), spec.dtype) for spec in self.signature.outputs}, [])
        started = time.perf_counter()
        names = [output.name for output in loaded.session.get_outputs()]
        answers = loaded.session.run(names, feeds)
        self.stats.answered(time.perf_counter() - started)
        return Inference(dict(zip(names, answers, strict=True)), [loaded.version] * rows)

    async def close(self) -> None:
        if self.served is not None:
            self.served.close()
