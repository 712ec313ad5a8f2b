"""Requests scored in batches that do not wait, each within its deadline.

A request's event, with its real-time card features (card_states.py), joins a queue; one worker
takes every request waiting (up to max_batch_size) as soon as the last batch is done, so at low
rates a batch is one request and nothing waits for a window. The batch's other views come
through the job's Enricher (the same cached views, the same defaults): from memory, on the event
loop, when every one is held (BatchViewLoader loads them); otherwise with one Feast request in
the Feast thread (a short timeout and a circuit breaker). Then the model scores it: in process
(onnxruntime on the file Triton serves) or on Triton.

A request not answered `fallback_margin_ms` before its deadline, or whose batch failed, is
answered at once by the fallback: the model in process on the event's own and real-time
features, the other views at their documented defaults (`features_missing`), marked with the
reason. Either way the answer comes within the deadline and no request fails for a slow or
absent dependency.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from prometheus_client import Counter, Histogram

from flink_jobs.clients.circuit_breaker import CircuitBreaker
from flink_jobs.clients.feast_client import FeastClient
from flink_jobs.clients.served_model import ServedModel
from flink_jobs.clients.triton_client import TritonClient
from flink_jobs.config.pipeline_config import PipelineConfig
from flink_jobs.events import Transaction
from flink_jobs.stages.enrich.enricher import Enriched, Enricher
from flink_jobs.stages.enrich.enricher import feature_ages_s as view_ages_s
from flink_jobs.stages.features.defaults import default
from flink_jobs.stages.inference.model_inputs import model_inputs
from flink_jobs.stages.inference.request_features import request_features

log = logging.getLogger(__name__)
MODEL, FALLBACK = "model", "model_without_other_views"

BATCH_SIZE = Histogram(
    "rtai_scoring_api_batch_size", "requests scored together", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256)
)
FALLBACKS = Counter("rtai_scoring_api_fallbacks", "answers by the fallback, by reason", ["reason"])


@dataclass(frozen=True)
class Scored:
    score: float
    version: str
    features: dict[str, float]  # every model input
    enriched: Enriched | None  # None for the fallback
    scoring: str  # MODEL or FALLBACK
    fallback: str = ""  # why


@dataclass
class _Request:
    event: Transaction
    realtime: dict[str, float]
    answer: asyncio.Future


class Scorer:
    def __init__(
        self, config: PipelineConfig, model: ServedModel, feast: FeastClient, triton: TritonClient | None
    ) -> None:
        api = config.scoring_api
        breaker = CircuitBreaker(api.feast.breaker_failures, api.feast.breaker_cooldown_s)
        computed = config.features.realtime_view
        self.enricher = Enricher(feast, config.features.service, config.inference_job.cached_views, computed, breaker)
        self.model, self.triton, self.max_batch = model, triton, api.max_batch_size
        self.fallback_at_s = (api.deadline_ms - api.fallback_margin_ms) / 1000
        self.feast_thread = ThreadPoolExecutor(1, thread_name_prefix="feast-requests")
        self.queue: asyncio.Queue[_Request] = asyncio.Queue()

    def start(self) -> None:
        self.worker = asyncio.get_running_loop().create_task(self._work())

    async def score(self, event: Transaction, realtime: dict[str, float], started: float) -> Scored:
        """`started`: time.perf_counter() when the request came; the answer comes by started + the deadline."""
        answer = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(_Request(event, realtime, answer))
        remaining = started + self.fallback_at_s - time.perf_counter()
        try:
            return await asyncio.wait_for(asyncio.shield(answer), max(remaining, 0.0))
        except TimeoutError:
            answer.cancel()
            return self.fallback(event, realtime, "deadline")
        except Exception as err:  # the batch failed: its requests are answered without it
            return self.fallback(event, realtime, type(err).__name__)

    def fallback(self, event: Transaction, realtime: dict[str, float], reason: str) -> Scored:
        FALLBACKS.labels(reason).inc()
        features = request_features(event.amount, event.channel, event.merchant_country, event.card_country)
        features |= realtime
        features |= {name: default(name) for name in self.model.feed_names() if name not in features}
        scores, version = self.model.score({n: np.array([v], np.float32) for n, v in features.items()})
        return Scored(float(scores[0]), version, features, None, FALLBACK, reason)

    async def _work(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.max_batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            batch = [r for r in batch if not r.answer.done()]
            if not batch:
                continue
            BATCH_SIZE.observe(len(batch))
            try:
                answers = await self._score_batch(batch)
            except Exception as err:
                log.warning("a batch of %d failed, its requests answered by the fallback: %s", len(batch), err)
                for request in batch:
                    if not request.answer.done():
                        request.answer.set_exception(err)
                continue
            for request, scored in zip(batch, answers, strict=True):
                if not request.answer.done():
                    request.answer.set_result(scored)

    async def _score_batch(self, batch: list[_Request]) -> list[Scored]:
        events = [r.event for r in batch]
        enriched = await self.enricher.enrich_on_loop(events, [r.realtime for r in batch], self.feast_thread)
        inputs = model_inputs(events, enriched)
        if self.triton is not None:
            inference = await self.triton.infer_rows(inputs, retry=False)
            scores, versions = next(iter(inference.outputs.values())).reshape(-1), inference.versions
        else:
            scores, version = self.model.score(inputs)
            versions = [version] * len(batch)
        return [
            Scored(float(score), v, {n: float(c[i]) for n, c in inputs.items()}, row, MODEL)
            for i, (score, v, row) in enumerate(zip(scores, versions, enriched, strict=True))
        ]

    def close(self) -> None:
        self.worker.cancel()
        self.feast_thread.shutdown(wait=False)


def feature_ages_s(enriched: Enriched | None) -> dict[str, float]:
    """Per view, how old the row's newest feature was when answered (the job's own measure)."""
    if enriched is None:
        return {}
    return {view: round(ages[0], 3) for view, ages in view_ages_s([enriched], time.time()).items()}
