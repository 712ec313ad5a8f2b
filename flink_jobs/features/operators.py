"""The feature job's Flink operators: parse, per-card features in event-time order, batched Feast push."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyflink.common import Types
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import KeyedProcessFunction, OutputTag, ProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from flink_jobs.dead_letters import dead_letter
from flink_jobs.events import InvalidEvent, Transaction, parse
from flink_jobs.feast_client import FeastClient
from flink_jobs.features.card_windows import FEATURE_NAMES, CardHistory
from flink_jobs.pipeline_config import PushSection

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
            yield {"card_id": event.card_id, "event_timestamp": _iso(event.event_time_ms), **features}
        self.card.update(card)


class PushToFeast(KeyedProcessFunction):
    """Buffers feature rows in keyed state (so a checkpoint holds what is not yet pushed) and
    pushes them in batches; a push that fails past its retry budget fails the job. The buffer
    is one value, written back once per bundle rather than once per row."""

    def __init__(self, push: PushSection) -> None:
        self.push = push

    def open(self, runtime_context: RuntimeContext) -> None:
        self.buffer = runtime_context.get_state(ValueStateDescriptor("rows", Types.PICKLED_BYTE_ARRAY()))
        self.timer = runtime_context.get_state(ValueStateDescriptor("timer", Types.LONG()))
        metrics = runtime_context.get_metrics_group()
        self.rows_pushed = metrics.counter("feature_rows_pushed")
        self.pushes = metrics.counter("feast_pushes")
        self.client = FeastClient(
            self.push.feast_url,
            timeout_s=self.push.timeout_s,
            retries=self.push.retries,
            backoff_ms=self.push.backoff_ms,
        )

    def close(self) -> None:
        self.client.close()

    def process_element(self, value: dict, ctx: KeyedProcessFunction.Context):
        rows = self.buffer.value() or []
        rows.append(value)
        if len(rows) >= self.push.batch_size:
            self._flush(rows, ctx)
            return iter(())
        self.buffer.update(rows)
        if self.timer.value() is None:
            deadline = ctx.timer_service().current_processing_time() + self.push.max_wait_ms
            ctx.timer_service().register_processing_time_timer(deadline)
            self.timer.update(deadline)
        return iter(())

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        self.timer.clear()
        self._flush(self.buffer.value() or [], ctx)
        return iter(())

    def _flush(self, rows: list[dict], ctx: KeyedProcessFunction.Context) -> None:
        if rows:
            columns = {name: [row[name] for row in rows] for name in ("card_id", "event_timestamp", *FEATURE_NAMES)}
            self.client.push(self.push.push_source, columns, to=self.push.to)
            self.rows_pushed.inc(len(rows))
            self.pushes.inc()
        self.buffer.clear()
        pending_timer = self.timer.value()
        if pending_timer is not None:
            ctx.timer_service().delete_processing_time_timer(pending_timer)
            self.timer.clear()


def _iso(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, UTC).isoformat(timespec="milliseconds")


def _as_json(event: Transaction) -> str:
    """A late event's dead letter carries the event again, as JSON in the documented schema."""
    fields = {k: v for k, v in vars(event).items() if k != "event_time_ms"}
    return json.dumps({**fields, "event_time": _iso(event.event_time_ms)})
