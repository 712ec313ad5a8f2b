"""A batch's enrichment and scoring off the operator's thread, several batches at once.

One thread runs an asyncio loop for the operator: a batch's Feast request, when its cached views
miss, runs in one more thread, its lookups in memory and its Triton requests on the loop
(grpc.aio). So one batch's Feast request, another's Triton call and the operator taking the next
events overlap; the operator emits each batch when its Future is done. A batch every view of which
is in memory makes no thread hop for them.

With an in-stream canary (`[model.canary]`, canary_routing.py) the batch's cards are split
between the champion and the candidate, both called at once. The candidate gets one attempt: a
failed call, or a score that is not a finite number, is scored by the champion instead and its
reason kept for the prediction, so a broken candidate leaves no event unscored. A shadow version
(`[model.shadow]`) scores the whole batch at the same time, with one attempt; its failure only
costs its own scores.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flink_jobs.clients.triton_client import TritonClient, TritonRejected, TritonUnavailable
from flink_jobs.config.pipeline_config import InferenceJobSection, ModelSection
from flink_jobs.events import Transaction
from flink_jobs.stages.enrich.enricher import Enriched, Enricher
from flink_jobs.stages.inference.canary_routing import Routes, routes
from flink_jobs.stages.inference.model_inputs import model_inputs
from flink_jobs.stages.output.predictions import BatchTimes

log = logging.getLogger(__name__)
NO_CANARY = Routes("")


@dataclass(frozen=True)
class Scores:
    """A batch's scores, per event: the value, the version that computed it, its call's time."""

    values: np.ndarray
    versions: list[str]
    infer_ms: np.ndarray


@dataclass(frozen=True)
class ScoredBatch:
    enriched: list[Enriched]
    scores: Scores
    routes: list[str]  # per event: "" (no canary), "champion" or "candidate"
    champion_scores: np.ndarray  # per event, the champion's score (the candidate's events included)
    candidate_errors: dict[int, str]  # event index -> why the champion scored a candidate's event
    times: BatchTimes
    shadow: Scores | None = None  # the shadow version's scores of every event, when it answered
    shadow_error: str = ""  # why it did not


class BatchScoring:
    def __init__(self, enricher: Enricher, job: InferenceJobSection, model: ModelSection) -> None:
        self.enricher, self.job, self.model = enricher, job, model.name
        self.canary, self.shadow_version, self.refresh_s = model.canary, model.shadow.version, model.versions_refresh_s
        self.follows_versions = bool(self.canary.candidate_version or self.shadow_version)
        self.routes = NO_CANARY

    def open(self) -> None:
        """Starts the loop's thread, connects and reads the model's signature (its first output is
        the score) and, with a canary configured, the loaded versions, then again every refresh_s."""
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="batch-scoring", daemon=True)
        self.thread.start()
        self.feast_thread = ThreadPoolExecutor(1, thread_name_prefix="feast-requests")
        if self.job.serving == "in_process":
            # Imported here only: importing onnxruntime in the python design's scoring task left
            # the job's Python tasks in INITIALIZING (2026-12-03), whatever the serving.
            from flink_jobs.clients.in_process_client import InProcessClient

            self.client = InProcessClient(Path(self.job.model_repository), self.model)
        else:
            self.client = TritonClient.from_calls(self.job.triton, self.model)
        signature = asyncio.run_coroutine_threadsafe(self.client.connect(), self.loop).result()
        self.output = signature.outputs[0].name
        if self.follows_versions:
            asyncio.run_coroutine_threadsafe(self._refresh_routes(), self.loop).result()
            self.refresher = asyncio.run_coroutine_threadsafe(self._refresh_routes_forever(), self.loop)

    async def _refresh_routes(self) -> None:
        new = routes(await self.client.loaded_versions(), self.canary.candidate_version, self.shadow_version)
        if new != self.routes:
            log.info("model routes now %s", new)
        self.routes = new

    async def _refresh_routes_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self._refresh_routes()
            except (TritonUnavailable, TritonRejected) as err:  # the batches' own calls say what matters
                log.warning("could not read the loaded versions of %s: %s", self.model, err)

    def submit(self, events: list[Transaction], computed: Sequence[dict[str, float]] | None) -> Future[ScoredBatch]:
        return asyncio.run_coroutine_threadsafe(self.score(events, computed), self.loop)

    async def score(self, events: list[Transaction], computed: Sequence[dict[str, float]] | None) -> ScoredBatch:
        """The batch enriched and scored, on the loop's thread."""
        started = time.time()
        enriched = await self.enricher.enrich_on_loop(events, computed, self.feast_thread)
        enriched_at = time.time()
        inputs = model_inputs(events, enriched)
        cards = [e.card_id for e in events]
        routes = self.routes  # the batch's, whatever a refresh does meanwhile
        shadow = asyncio.ensure_future(self._shadow(inputs, routes.shadow)) if routes.shadow else None
        try:
            to_candidate = routes.to_candidate(cards, self.canary.share)
            # A champion asked for by version gets one attempt: its failure may only mean the version
            # was unloaded (a promotion or a rollback), and the routes are read again first.
            scores, champion, errors = await self._routed(inputs, routes, to_candidate, retry=not routes.champion)
        except (TritonRejected, TritonUnavailable):
            if not routes.champion:
                if shadow is not None:
                    shadow.cancel()
                raise
            await self._refresh_routes()
            routes = self.routes
            to_candidate = routes.to_candidate(cards, self.canary.share)
            scores, champion, errors = await self._routed(inputs, routes, to_candidate, retry=True)
        routed = ["candidate" if c else "champion" for c in to_candidate] if routes.candidate else [""] * len(events)
        shadow_scores, shadow_error = await shadow if shadow is not None else (None, "")
        times = BatchTimes(started, enriched_at, time.time())
        return ScoredBatch(enriched, scores, routed, champion, errors, times, shadow_scores, shadow_error)

    async def _shadow(self, inputs: dict[str, np.ndarray], version: str) -> tuple[Scores | None, str]:
        try:
            return await self._infer(inputs, version, retry=False), ""
        except (TritonUnavailable, TritonRejected) as err:
            return None, str(err)

    async def _infer(self, inputs: dict[str, np.ndarray], version: str, *, retry: bool = True) -> Scores:
        started = time.perf_counter()
        inference = await self.client.infer_rows(inputs, version=version, retry=retry)
        values = inference.outputs[self.output].reshape(-1)
        return Scores(values, inference.versions, np.full(len(values), (time.perf_counter() - started) * 1000))

    async def _routed(
        self, inputs: dict[str, np.ndarray], routes: Routes, to_candidate: np.ndarray, *, retry: bool
    ) -> tuple[Scores, np.ndarray, dict[int, str]]:
        """Scores of every row (the candidate's for its rows where it answered), the champion's
        scores of every row, and why the candidate failed where it did."""
        if not to_candidate.any():
            scores = await self._infer(inputs, routes.champion, retry=retry)
            return scores, scores.values, {}
        rows = {name: column[to_candidate] for name, column in inputs.items()}
        candidate_at = np.flatnonzero(to_candidate)
        champion, candidate = await asyncio.gather(
            self._infer(inputs, routes.champion, retry=retry),
            self._infer(rows, routes.candidate, retry=False),
            return_exceptions=True,
        )
        if isinstance(champion, BaseException):
            raise champion
        errors: dict[int, str] = {}
        if isinstance(candidate, BaseException):
            if not isinstance(candidate, TritonUnavailable | TritonRejected):
                raise candidate
            errors = {int(i): f"candidate call failed: {candidate}" for i in candidate_at}
            return champion, champion.values, errors
        values, versions, infer_ms = champion.values.copy(), list(champion.versions), champion.infer_ms.copy()
        for i, value, version, ms in zip(
            candidate_at, candidate.values, candidate.versions, candidate.infer_ms, strict=True
        ):
            if math.isfinite(value):
                values[i], versions[i], infer_ms[i] = value, version, ms
            else:
                errors[int(i)] = f"candidate score not finite: {value} (version {version})"
        return Scores(values, versions, infer_ms), champion.values, errors

    def close(self) -> None:
        if self.follows_versions:
            self.refresher.cancel()
        asyncio.run_coroutine_threadsafe(self.client.close(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()
        self.feast_thread.shutdown()
