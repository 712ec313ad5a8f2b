"""The feature job's Flink operators: parse, per-card features in event-time order, batched Feast push."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pyflink.common import Types
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import KeyedProcessFunction, OutputTag, ProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from flink_jobs.dead_letters import dead_letter
from flink_jobs.events import InvalidEvent, Transaction, iso_ms, parse
from flink_jobs.feast_client import FeastClient
from flink_jobs.features.card_windows import FEATURE_NAMES, CardHistory
from flink_jobs.keyed_batches import KeyedBatchFunction
from flink_jobs.pipeline_config import FeastCalls, PushSection

JOB_NAME = "feature-job"
DEAD_LETTERS = OutputTag("dead-letters", Types.STRING())


class ParseTransactions(ProcessFunction):
    """Valid events go on as Transactions; every other one to the dead letters with its reason."""

    def __init__(self, source_topic: str, job_name: str = JOB_NAME) -> None:
        self.source_topic, self.job_name = source_topic, job_name

    def open(self, runtime_context: RuntimeContext) -> None:
        metrics = runtime_context.get_metrics_group()
        self.valid = metrics.counter("events_valid")
        self.invalid = metrics.counter("events_invalid")

    def process_element(self, value: str, ctx: ProcessFunction.Context):
        try:
            event = parse(value)
        except InvalidEvent as err:
            self.invalid.inc()
            yield DEAD_LETTERS, dead_letter(value, str(err), source_topic=self.source_topic, job=self.job_name)
            return
        self.valid.inc()
        yield event


class EventTime(TimestampAssigner):
    def extract_timestamp(self, value: Transaction, record_timestamp: int) -> int:
        return value.event_time_ms


@dataclass
class CardState:
    """One card's keyed state, as one value: a single state read and write per bundle and key
    (a list state costs a round trip to the JVM per access)."""

    history: CardHistory = field(default_factory=CardHistory)
    pending: list[Transaction] = field(default_factory=list)  # held back until the watermark passes them


class CardFeatures(KeyedProcessFunction):
    """Holds each card's transactions back until the watermark passes them, then computes its
    features in event-time order. A transaction is late, and dead-lettered, when it is behind
    the watermark on arrival or older than a transaction of the card already processed."""

    LATE_REASON = "late event: event_time is behind the watermark (max_out_of_orderness_ms)"

    def __init__(self, source_topic: str) -> None:
        self.source_topic = source_topic

    def open(self, runtime_context: RuntimeContext) -> None:
        self.card = runtime_context.get_state(ValueStateDescriptor("card", Types.PICKLED_BYTE_ARRAY()))
        self.late = runtime_context.get_metrics_group().counter("events_late")

    def _dead_letter(self, event: Transaction) -> tuple[OutputTag, str]:
        self.late.inc()
        return DEAD_LETTERS, dead_letter(
            _as_json(event), self.LATE_REASON, source_topic=self.source_topic, job=JOB_NAME
        )

    def process_element(self, value: Transaction, ctx: KeyedProcessFunction.Context):
        if value.event_time_ms <= ctx.timer_service().current_watermark():
            yield self._dead_letter(value)
            return
        card = self.card.value() or CardState()
        card.pending.append(value)
        self.card.update(card)
        ctx.timer_service().register_event_time_timer(value.event_time_ms)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        card = self.card.value()
        ready = sorted(
            (e for e in card.pending if e.event_time_ms <= timestamp), key=lambda e: (e.event_time_ms, e.event_id)
        )
        card.pending = [e for e in card.pending if e.event_time_ms > timestamp]
        history = card.history
        for event in ready:
            if history.last_time_ms is not None and event.event_time_ms < history.last_time_ms:
                yield self._dead_letter(event)
                continue
            features = history.add(event.event_time_ms, event.amount, event.merchant_id)
            yield {"card_id": event.card_id, "event_timestamp": iso_ms(event.event_time_ms), **features}
        self.card.update(card)


class PushToFeast(KeyedBatchFunction):
    """Pushes feature rows in batches; rows waiting for their batch are in the checkpoint. A push
    that fails past its retry budget fails the job."""

    def __init__(self, feast: FeastCalls, push: PushSection) -> None:
        super().__init__(push.batch_size, push.max_wait_ms)
        self.feast, self.push = feast, push

    def open(self, runtime_context: RuntimeContext) -> None:
        super().open(runtime_context)
        metrics = runtime_context.get_metrics_group()
        self.rows_pushed = metrics.counter("feature_rows_pushed")
        self.pushes = metrics.counter("feast_pushes")
        self.client = FeastClient(
            self.feast.url, timeout_s=self.feast.timeout_s, retries=self.feast.retries, backoff_ms=self.feast.backoff_ms
        )

    def close(self) -> None:
        self.client.close()

    def process_batch(self, batch: list[dict]):
        columns = {name: [row[name] for row in batch] for name in ("card_id", "event_timestamp", *FEATURE_NAMES)}
        self.client.push(self.push.push_source, columns, to=self.push.to)
        self.rows_pushed.inc(len(batch))
        self.pushes.inc()
        yield from ()


def _as_json(event: Transaction) -> str:
    """A late event's dead letter carries the event again, as JSON in the documented schema."""
    fields = {k: v for k, v in vars(event).items() if k != "event_time_ms"}
    return json.dumps({**fields, "event_time": iso_ms(event.event_time_ms)})
