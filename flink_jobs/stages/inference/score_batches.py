"""The inference job's batching operator, composed of its stages: enrich, assemble the model's
inputs, infer, then predictions and alerts out.

PyFlink 1.20 has no Python AsyncFunction, so batching lives here: transactions wait in keyed
state (a checkpoint holds them) until max_batch_size are there or max_wait_ms has passed; then
one Feast request enriches the whole batch and Triton scores it, off the operator's thread, while
the operator takes the next events (up to batches_in_flight batches; a started batch stays in
keyed state until its predictions are emitted). The stages are fused in one operator so a batch
crosses no serialization hop between them. A Triton failure past its retry budget, or a batch
not done within batch_timeout_ms, fails the job, and Flink restarts it from the last checkpoint
with the waiting and the started transactions restored; a Feast failure too, unless
`[inference_job.feast] on_unavailable = "degrade"` (then defaults and a circuit breaker).
The stage itself (outputs, metrics, the rate bound) is ScoringStage; a transaction past its card's
rate bound is answered at once, without a state write.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future

from pyflink.datastream import RuntimeContext

from flink_jobs.config.pipeline_config import PipelineConfig
from flink_jobs.events import Transaction
from flink_jobs.keyed_batches import KeyedBatchFunction
from flink_jobs.stages.features.card_windows import EVENTS_PER_MINUTE
from flink_jobs.stages.inference.infer import ScoredBatch
from flink_jobs.stages.inference.scoring_stage import ALERT, DEAD_LETTER, SHADOW, Output, ScoringStage
from flink_jobs.stages.input.parse import DEAD_LETTERS
from flink_jobs.stages.output.alerts import ALERTS
from flink_jobs.stages.output.shadow_scores import SHADOW_SCORES
from flink_jobs.state_layout import SCORING_ENTRIES, Entry

# How often the operator looks for a finished batch when no event arrives to trigger it (each
# look is a timer: a call from the JVM). Events arriving look too, so this bounds only a lull.
POLL_MS = 5
SIDE_OUTPUTS = {ALERT: ALERTS, DEAD_LETTER: DEAD_LETTERS, SHADOW: SHADOW_SCORES}


class ScoreBatches(KeyedBatchFunction):
    entry_layout = SCORING_ENTRIES

    def __init__(self, config: PipelineConfig, job_name: str) -> None:
        job = config.inference_job
        super().__init__(
            job.max_batch_size,
            job.max_wait_ms,
            max_in_flight=job.batches_in_flight,
            poll_ms=POLL_MS,
            timeout_s=job.batch_timeout_ms / 1000,
        )
        self.stage = ScoringStage(config, job_name)

    def open(self, runtime_context: RuntimeContext) -> None:
        super().open(runtime_context)
        self.stage.open(runtime_context.get_metrics_group())

    def close(self) -> None:
        self.stage.close()

    def process_element(self, value: Transaction | tuple[Transaction, dict[str, float]], ctx):
        if isinstance(value, tuple):
            event, computed = value
            latest = self.stage.latest_score(event, computed)
            if latest is not None:
                now_ms = time.time() * 1000
                yield from _routed(self.stage.past_rate_bound(event, computed[EVENTS_PER_MINUTE], now_ms, latest))
                return
        yield from super().process_element(value, ctx)

    def entry(self, value: Transaction | tuple[Transaction, dict[str, float]]) -> Entry:
        """(event, its computed real-time features or None, when it reached the operator)."""
        # The connector hands on a message's event time, not its publish time: the job's own
        # clock stamps when an event reached it; consumers read publish times from Pulsar.
        event, computed = value if isinstance(value, tuple) else (value, None)
        return event, computed, time.time() * 1000

    def start_batch(self, batch: list[Entry]) -> Future[ScoredBatch]:
        return self.stage.submit(batch)

    def finish_batch(self, batch: list[Entry], result: ScoredBatch) -> Iterable:
        yield from _routed(self.stage.scored(batch, result))


def _routed(outputs: Iterator[Output]) -> Iterator:
    """Predictions on the main output, alerts, dead letters and shadow scores on their side outputs."""
    for kind, text in outputs:
        side = SIDE_OUTPUTS.get(kind)
        yield text if side is None else (side, text)
