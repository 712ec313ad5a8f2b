"""A batch's enrichment and scoring off the operator's thread, several batches at once.

One thread runs an asyncio loop for the operator: a batch's Feast request runs in one more
thread (the Enricher and its cache are used by that thread alone), its Triton requests on the
loop (grpc.aio). So one batch's Feast request, another's Triton call and the operator taking the
next events overlap; the operator emits each batch when its Future is done.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from flink_jobs.clients.triton_client import TritonClient
from flink_jobs.config.pipeline_config import TritonCalls
from flink_jobs.events import Transaction
from flink_jobs.stages.enrich.enricher import Enriched, Enricher
from flink_jobs.stages.inference.model_inputs import model_inputs
from flink_jobs.stages.output.predictions import BatchTimes


@dataclass(frozen=True)
class ScoredBatch:
    enriched: list[Enriched]
    scores: np.ndarray  # one per event, in batch order
    times: BatchTimes


class BatchScoring:
    def __init__(self, enricher: Enricher, calls: TritonCalls, model: str) -> None:
        self.enricher, self.calls, self.model = enricher, calls, model

    def open(self) -> None:
        """Starts the loop's thread, connects and reads the model's signature (its first output is the score)."""
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="batch-scoring", daemon=True)
        self.thread.start()
        self.feast_thread = ThreadPoolExecutor(1, thread_name_prefix="feast-requests")
        self.client = TritonClient.from_calls(self.calls, self.model)
        signature = asyncio.run_coroutine_threadsafe(self.client.connect(), self.loop).result()
        self.output, self.version = signature.outputs[0].name, signature.version

    def submit(self, events: list[Transaction], computed: Sequence[dict[str, float]] | None) -> Future[ScoredBatch]:
        return asyncio.run_coroutine_threadsafe(self._score(events, computed), self.loop)

    async def _score(self, events: list[Transaction], computed: Sequence[dict[str, float]] | None) -> ScoredBatch:
        started = time.time()
        enriched = await self.loop.run_in_executor(self.feast_thread, self.enricher.enrich, events, computed)
        enriched_at = time.time()
        outputs = await self.client.infer(model_inputs(events, enriched))
        return ScoredBatch(enriched, outputs[self.output].reshape(-1), BatchTimes(started, enriched_at, time.time()))

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.client.close(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()
        self.feast_thread.shutdown()
