"""The feature job's real-time stage: each card's window features, in event-time order."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pyflink.common import Types
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import KeyedProcessFunction, OutputTag, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from flink_jobs.events import Transaction, iso_ms
from flink_jobs.stages.features.card_windows import CardHistory
from flink_jobs.stages.input.parse import DEAD_LETTERS
from flink_jobs.stages.output.dead_letters import dead_letter


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

    def __init__(self, source_topic: str, job_name: str) -> None:
        self.source_topic, self.job_name = source_topic, job_name

    def open(self, runtime_context: RuntimeContext) -> None:
        self.card = runtime_context.get_state(ValueStateDescriptor("card", Types.PICKLED_BYTE_ARRAY()))
        self.late = runtime_context.get_metrics_group().counter("events_late")

    def _dead_letter(self, event: Transaction) -> tuple[OutputTag, str]:
        self.late.inc()
        return DEAD_LETTERS, dead_letter(
            _as_json(event), self.LATE_REASON, source_topic=self.source_topic, job=self.job_name
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


def _as_json(event: Transaction) -> str:
    """A late event's dead letter carries the event again, as JSON in the documented schema."""
    fields = {k: v for k, v in vars(event).items() if k != "event_time_ms"}
    return json.dumps({**fields, "event_time": iso_ms(event.event_time_ms)})
