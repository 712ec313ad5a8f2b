"""The feature job's push on whole batches (batching = "java"): one call per merged batch from
the JVM, each per-key-group document's rows pushed to Feast's push source in requests of at most
push.batch_size rows, before the call returns; its dead letters (the documents' own, and a dead
letter for each late transaction, one older than its card's latest already taken) out as tagged
lines ("D" + JSON) that the JVM splits back into records. Nothing is left in flight between calls, so a checkpoint
needs no state here: a push that fails past its retries fails the job, which restarts from its
last checkpoint and pushes the same rows again (a push of the same row is idempotent)."""

from __future__ import annotations

import orjson
from pyflink.datastream import ProcessFunction, RuntimeContext

from flink_jobs.clients.feast_client import FeastClient
from flink_jobs.config.pipeline_config import FeastCalls, PushSection
from flink_jobs.events import Transaction, iso_ms, to_json
from flink_jobs.metrics import PushMetrics, dead_letters, reason_kind
from flink_jobs.stages.enrich.realtime_batch_features import LATE_REASON
from flink_jobs.stages.features.feast_push import push_rows
from flink_jobs.stages.output.dead_letters import dead_letter


class PushFeatureBatches(ProcessFunction):
    def __init__(self, feast: FeastCalls, push: PushSection, source_topic: str, job_name: str) -> None:
        self.feast, self.push = feast, push
        self.source_topic, self.job_name = source_topic, job_name

    def open(self, runtime_context: RuntimeContext) -> None:
        self.metrics = PushMetrics(runtime_context.get_metrics_group())
        self.dead_lettered = dead_letters(runtime_context.get_metrics_group())
        self.client = FeastClient.from_calls(self.feast)

    def close(self) -> None:
        self.client.close()

    def process_element(self, parts: list[str], ctx: ProcessFunction.Context):
        dead: list[str] = []
        rows: list[dict] = []
        for part in parts:
            document = orjson.loads(part)
            dead.extend("D" + letter for letter in document["dead"])
            for fields in document.get("late", ()):
                late = to_json(Transaction(**fields))
                dead.append("D" + dead_letter(late, LATE_REASON, source_topic=self.source_topic, job=self.job_name))
                self.dead_lettered.inc(reason_kind(LATE_REASON))
            for event, features, _ in document["rows"]:
                rows.append(
                    {"card_id": event["card_id"], "event_timestamp": iso_ms(event["event_time_ms"]), **features}
                )
        for start in range(0, len(rows), self.push.batch_size):
            push_rows(self.client, self.push, self.metrics, rows[start : start + self.push.batch_size])
        if dead:
            yield "\n".join(dead)
