"""The scoring stage on whole batches: one call per batch from the JVM (java_operators.py merges
the real-time stage's per-key-group documents into a list), the batch enriched and scored off the
operator's thread, and one string out holding every output as a tagged line (P prediction, A
alert, D dead letter, S shadow score) that the JVM splits back into records before the sinks.

The batches are scored on the scoring loop's thread (scoring_queue.py) and leave in order.
With `batch_start = "coalesced"` a call does not start a batch: its rows join the one not yet
started, which the scoring loop starts when fewer than batches_in_flight are under way; a call
returns the batches done, waiting only when more than one batch waits beyond those under way.
With `batch_start = "per_flush"` a call starts its own batch and returns the outputs of those
already scored, waiting for the oldest while more than batches_in_flight are left under way (0:
each call waits for its own batch, for a model scored in process, where there is no round trip
to overlap).

With `batch_start = "held"` the JVM's ScoringGate holds the flushes while there is no room and
hands them on together when there is: the batches are coalesced as above, and every call ends
with an R line, the batches not yet taken and whether one more would start at once, which the
gate reads (the JVM's splitter hands it over), with the pipe on which the scoring loop writes a
byte whenever a batch is done (done_signal.py). A list holding only POLL adds nothing: it takes
the batches done, which the gate asks for when it finds a byte there (it looks every poll_ms):
the operator's thread calls into Python only when rows come or a batch is done.

An empty list from the JVM (before every checkpoint barrier, at the end of input, and after a
lull) asks for all of them: nothing is in flight across a checkpoint, so neither this operator nor
the JVM's needs state. A batch not scored within batch_timeout_ms fails the job, which restarts
from its last checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import TimeoutError as FutureTimeout

import orjson
from pyflink.datastream import ProcessFunction, RuntimeContext

from flink_jobs.config.pipeline_config import PipelineConfig
from flink_jobs.events import Transaction
from flink_jobs.keyed_batches import BatchTimeout
from flink_jobs.stages.features.card_windows import EVENTS_PER_MINUTE
from flink_jobs.stages.inference.done_signal import DoneSignal
from flink_jobs.stages.inference.scoring_queue import ScoringQueue
from flink_jobs.stages.inference.scoring_stage import ALERT, DEAD_LETTER, PREDICTION, SHADOW, Output, ScoringStage
from flink_jobs.state_layout import Entry

TAGS = {PREDICTION: "P", ALERT: "A", DEAD_LETTER: "D", SHADOW: "S"}
POLL = ["?"]  # ScoringGate.POLL alone: the batches done, nothing added
ROOM = "R"


def _lines(outputs: Iterable[Output]) -> list[str]:
    return [TAGS[kind] + text for kind, text in outputs]


class ScoreWholeBatches(ProcessFunction):
    def __init__(self, config: PipelineConfig, job_name: str) -> None:
        self.stage = ScoringStage(config, job_name)
        self.timeout_s = config.inference_job.batch_timeout_ms / 1000
        self.max_in_flight = config.inference_job.batches_in_flight
        self.coalesced = config.inference_job.batch_start in ("coalesced", "held")
        self.held = config.inference_job.batch_start == "held"  # the JVM's ScoringGate before it
        self.max_batch_size = config.inference_job.max_batch_size

    def open(self, runtime_context: RuntimeContext) -> None:
        self.stage.open(runtime_context.get_metrics_group())
        # per_flush: every call's batch starts at once; the calls bound what is under way.
        self.done = DoneSignal() if self.held else None
        self.batches = ScoringQueue(
            self.stage.scoring_loop,
            self.stage.score,
            self.max_batch_size,
            self.max_in_flight if self.coalesced else None,
            self.done.signal if self.done else None,
        )

    def close(self) -> None:
        self.stage.close()  # its loop stopped first: nothing signals after
        if self.done is not None:
            self.done.close()

    def process_element(self, parts: list[str], ctx: ProcessFunction.Context):
        if parts == POLL:
            wait_for = 0
        elif parts:
            self.batches.add(*self._read(parts))
            # Coalesced: one batch may wait, open, beyond those under way.
            wait_for = self.batches.waiting() - self.max_in_flight - (1 if self.coalesced else 0)
        else:  # the JVM's drain
            wait_for = self.batches.waiting()
        try:
            done = self.batches.take(wait_for, self.timeout_s)
        except FutureTimeout:
            raise BatchTimeout(
                f"a batch was not scored within {self.timeout_s:g} s: failing the job, "
                "which restarts from its last checkpoint"
            ) from None
        lines: list[str] = []
        for batch in done:
            lines.extend(batch.lines)
            if batch.rows:
                lines.extend(_lines(self.stage.scored(batch.rows, batch.result.result())))
        if self.done is not None:
            lines.append(f"{ROOM}{self.batches.waiting()} {int(self.batches.has_room())} {self.done.read_fd}")
        if lines:
            yield "\n".join(lines)

    def _read(self, parts: list[str]) -> tuple[list[str], list[Entry]]:
        """A merged batch's dead letters and rate-bound answers, and its rows to score."""
        lines: list[str] = []
        batch: list[Entry] = []
        for part in parts:
            document = orjson.loads(part)
            lines.extend("D" + dead for dead in document["dead"])
            for fields, features, received_ms in document["rows"]:
                event = Transaction(**fields)
                latest = self.stage.latest_score(event, features)
                if latest is None:
                    batch.append((event, features, received_ms))
                else:
                    rate = features[EVENTS_PER_MINUTE]
                    lines.extend(_lines(self.stage.past_rate_bound(event, rate, received_ms, latest)))
        return lines, batch
