"""The dead letters in the feature job's card-window documents (batching = "java"): a document's
own ("dead"), and one for each late transaction, one older than its card's latest already taken
("late"), as tagged lines ("D" + JSON) that the JVM splits back into records.

`DeadLettersOfBatches` is the dead-letter stage after the JVM's Redis writer, which sends on
only the documents that hold some, without their rows; the Feast push takes them from its
documents itself (push_batches.py)."""

from __future__ import annotations

import orjson
from pyflink.datastream import ProcessFunction, RuntimeContext

from flink_jobs.events import Transaction, to_json
from flink_jobs.metrics import LabeledCounters, dead_letters, reason_kind
from flink_jobs.stages.enrich.realtime_batch_features import LATE_REASON
from flink_jobs.stages.output.dead_letters import dead_letter


def tagged_dead_letters(document: dict, source_topic: str, job_name: str, counter: LabeledCounters) -> list[str]:
    """The document's dead letters and its late transactions', tagged; the late ones counted."""
    tagged = ["D" + letter for letter in document["dead"]]
    for fields in document.get("late", ()):
        late = to_json(Transaction(**fields))
        tagged.append("D" + dead_letter(late, LATE_REASON, source_topic=source_topic, job=job_name))
        counter.inc(reason_kind(LATE_REASON))
    return tagged


class DeadLettersOfBatches(ProcessFunction):
    def __init__(self, source_topic: str, job_name: str) -> None:
        self.source_topic, self.job_name = source_topic, job_name

    def open(self, runtime_context: RuntimeContext) -> None:
        self.dead_lettered = dead_letters(runtime_context.get_metrics_group())

    def process_element(self, parts: list[str], ctx: ProcessFunction.Context):
        tagged: list[str] = []
        for part in parts:
            tagged.extend(tagged_dead_letters(orjson.loads(part), self.source_topic, self.job_name, self.dead_lettered))
        if tagged:
            yield "\n".join(tagged)
