"""The feature job's real-time stage: each card's window features, in event-time order."""

from __future__ import annotations

import time

from pyflink.common import Types
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import KeyedProcessFunction, OutputTag, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from flink_jobs import metrics
from flink_jobs.events import Transaction, iso_ms, to_json
from flink_jobs.stages.features import history_seed
from flink_jobs.stages.input.parse import DEAD_LETTERS
from flink_jobs.stages.output.dead_letters import dead_letter
from flink_jobs.state_layout import (
    STATE_TYPE,
    decode_history,
    decode_transactions,
    encode_history,
    encode_transactions,
)


class EventTime(TimestampAssigner):
    """The event time, but never past the job's clock: the watermark follows these timestamps,
    and an event ahead of the clock (up to [events] max_ahead_ms) must not make every event
    after it late. Its features still wait for its own event time (its timer)."""

    def extract_timestamp(self, value: Transaction, record_timestamp: int) -> int:
        return min(value.event_time_ms, time.time_ns() // 1_000_000)


class CardFeatures(KeyedProcessFunction):
    """Holds each card's transactions back until the watermark passes them, then computes its
    features in event-time order. A transaction is late, and dead-lettered, when it is behind
    the watermark on arrival or older than a transaction of the card already processed.

    The transactions waiting are one map state entry per event time (the transactions of that
    millisecond), so a timer takes exactly its own without reading the others: a card with
    thousands waiting (a burst) costs the same per transaction as a quiet one. The card's history,
    a value state, is read and written once per timer firing; a card with no state starts from
    its seed (history_seed.py), when the job has one."""

    LATE_REASON = "late event: event_time is behind the watermark (max_out_of_orderness_ms)"

    def __init__(self, source_topic: str, job_name: str, seed_file: str = "") -> None:
        self.source_topic, self.job_name, self.seed_file = source_topic, job_name, seed_file

    def open(self, runtime_context: RuntimeContext) -> None:
        self.history = runtime_context.get_state(ValueStateDescriptor("history", STATE_TYPE))
        self.pending = runtime_context.get_map_state(MapStateDescriptor("pending", Types.LONG(), STATE_TYPE))
        self.dead_lettered = metrics.dead_letters(runtime_context.get_metrics_group())
        self.seed = history_seed.load(self.seed_file, history_seed.FEATURE_FIELD)

    def _dead_letter(self, event: Transaction) -> tuple[OutputTag, str]:
        self.dead_lettered.inc(metrics.reason_kind(self.LATE_REASON))
        return DEAD_LETTERS, dead_letter(
            to_json(event), self.LATE_REASON, source_topic=self.source_topic, job=self.job_name
        )

    def process_element(self, value: Transaction, ctx: KeyedProcessFunction.Context):
        if value.event_time_ms <= ctx.timer_service().current_watermark():
            yield self._dead_letter(value)
            return
        at = value.event_time_ms
        same_time = self.pending.get(at)
        events = decode_transactions(same_time) if same_time is not None else []
        self.pending.put(at, encode_transactions([*events, value]))
        ctx.timer_service().register_event_time_timer(at)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        waiting = self.pending.get(timestamp)
        if waiting is not None:
            ready = decode_transactions(waiting)
            self.pending.remove(timestamp)
        else:
            ready = self._take_layout_1_entries(timestamp)
        if not ready:
            return
        stored = self.history.value()
        card = ctx.get_current_key()
        history = decode_history(stored) if stored is not None else history_seed.starting_history(self.seed, card)
        for event in sorted(ready, key=lambda e: (e.event_time_ms, e.event_id)):
            if history.last_time_ms is not None and event.event_time_ms < history.last_time_ms:
                yield self._dead_letter(event)
                continue
            features = history.add(event.event_time_ms, event.amount, event.merchant_id)
            yield {"card_id": event.card_id, "event_timestamp": iso_ms(event.event_time_ms), **features}
        self.history.update(encode_history(history))

    def _take_layout_1_entries(self, timestamp: int) -> list[Transaction]:
        """A timer with no entry of its time: state restored from layout 1, whose entries were
        one transaction each under an arrival id. Takes (and removes) those due by `timestamp`."""
        ready = []
        for entry_id, raw in list(self.pending.items()):
            events = decode_transactions(raw)
            if all(e.event_time_ms <= timestamp for e in events):
                ready.extend(events)
                self.pending.remove(entry_id)
        return ready
