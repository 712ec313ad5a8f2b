"""Scores model inputs on Triton for a synchronous Flink operator: the asyncio Triton client runs
on an event loop of the operator's own (its thread has none), and each call waits for its result."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import numpy as np

from flink_jobs.clients.triton_client import TritonClient
from flink_jobs.config.pipeline_config import TritonCalls


class Scorer:
    def __init__(self, calls: TritonCalls, model: str) -> None:
        self.calls, self.model = calls, model

    def open(self) -> None:
        """Connects and reads the model's signature: its first output is the score."""
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)  # the client's gRPC channel binds to this loop
        self.client = TritonClient.from_calls(self.calls, self.model)
        signature = self.loop.run_until_complete(self.client.connect())
        self.output, self.version = signature.outputs[0].name, signature.version

    def score(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """One score per row, in row order."""
        return self.loop.run_until_complete(self.client.infer(columns))[self.output].reshape(-1)

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()
