"""The feature job's last stage: feature rows to Feast through a PushSource, in batches."""

from __future__ import annotations

from pyflink.datastream import RuntimeContext

from flink_jobs.clients.feast_client import FeastClient
from flink_jobs.config.pipeline_config import FeastCalls, PushSection
from flink_jobs.keyed_batches import KeyedBatchFunction
from flink_jobs.metrics import PushMetrics
from flink_jobs.stages.features.card_windows import FEATURE_NAMES

COLUMNS = ("card_id", "event_timestamp", *FEATURE_NAMES)  # a pushed row's, as the push source's schema has them


class PushToFeast(KeyedBatchFunction):
    """Pushes feature rows in batches; rows waiting for their batch are in the checkpoint. A push
    that fails past its retry budget fails the job."""

    def __init__(self, feast: FeastCalls, push: PushSection) -> None:
        super().__init__(push.batch_size, push.max_wait_ms)
        self.feast, self.push = feast, push

    def open(self, runtime_context: RuntimeContext) -> None:
        super().open(runtime_context)
        self.metrics = PushMetrics(runtime_context.get_metrics_group())
        self.client = FeastClient.from_calls(self.feast)

    def close(self) -> None:
        self.client.close()

    def finish_batch(self, batch: list[dict], result: None):
        push_rows(self.client, self.push, self.metrics, batch)
        yield from ()


def push_rows(client: FeastClient, push: PushSection, metrics: PushMetrics, rows: list[dict]) -> None:
    """One /push of feature rows (card_id, event_timestamp and the features), counted in `metrics`."""
    try:
        client.push(push.push_source, push_columns(rows), to=push.to)
    finally:
        metrics.feast.report(client.stats)
    metrics.rows_pushed.inc(len(rows))
    metrics.pushes.inc()


def push_columns(rows: list[dict]) -> dict[str, list]:
    """Feature rows as the /push request's columns."""
    return {name: [row[name] for row in rows] for name in COLUMNS}
