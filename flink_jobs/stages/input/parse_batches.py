"""The parse stage on whole fetches (card_windows = "jvm"): one call per list of raw messages the
JVM's FetchBatcher hands over, one string out of tagged lines for the JVM's ParsedKeyGroups:

    E{"card_id": c, "event": {Transaction's fields}, "received_ms": t[, "seed": history text]}
    D{dead letter}

An event line leads with its card, which the JVM reads to route it to its key group's card
windows (CardWindows.java). The first time this subtask passes on a transaction of a card the
backfill's seed holds, the line carries the card's seed history: the card windows start a card
with no state from it (a card whose state exists ignores it). Each card is seeded once per
subtask and run; a restart sends the seeds again, where they are ignored.

With `parse = "jvm"` the JVM parses the transactions in the schema's everyday form itself
(batching/JvmParse.java) and this stage gets only the other messages: it alone decides, and
writes the dead letters with their reasons.
"""

from __future__ import annotations

import time

import orjson
from pyflink.datastream import ProcessFunction, RuntimeContext

from flink_jobs.config.pipeline_config import EventsSection
from flink_jobs.events import InvalidEvent, accepted
from flink_jobs.metrics import ParseMetrics
from flink_jobs.stages.features import history_seed
from flink_jobs.stages.output.dead_letters import dead_letter


class ParseBatches(ProcessFunction):
    def __init__(
        self,
        source_topic: str,
        job_name: str,
        window: EventsSection,
        seed_file: str = "",
        seed_field: str = history_seed.INFERENCE_FIELD,
    ) -> None:
        """`seed_field`: the config key naming `seed_file`, for its errors."""
        self.source_topic, self.job_name, self.window = source_topic, job_name, window
        self.seed_file, self.seed_field = seed_file, seed_field

    def open(self, runtime_context: RuntimeContext) -> None:
        self.metrics = ParseMetrics(runtime_context.get_metrics_group())
        self.seed = history_seed.load(self.seed_file, self.seed_field)
        self.seeded: set[int] = set()  # cards of the seed whose history this subtask passed on

    def process_element(self, raws: list[str], ctx: ProcessFunction.Context):
        received_ms = time.time() * 1000
        now_ms = int(received_ms)
        lines, reasons = [], []
        for raw in raws:
            try:
                event = accepted(raw, self.window, now_ms)
            except InvalidEvent as err:
                reasons.append(str(err))
                lines.append("D" + dead_letter(raw, str(err), source_topic=self.source_topic, job=self.job_name))
                continue
            line = {"card_id": event.card_id, "event": event, "received_ms": received_ms}
            if self.seed is not None and event.card_id not in self.seeded:
                seed = self.seed.text(event.card_id)
                if seed is not None:
                    line["seed"] = seed
                    self.seeded.add(event.card_id)
            lines.append("E" + orjson.dumps(line).decode())
        self.metrics.batch(len(lines) - len(reasons), reasons)
        yield "\n".join(lines)
