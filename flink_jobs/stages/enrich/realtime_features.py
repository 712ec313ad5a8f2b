"""The real-time card view computed where it is scored: each card's window features in the
inference job's own keyed state, by the same CardHistory the feature job and the backfill run.

Keyed by card, every transaction updates its card's history and leaves with its features as of
itself (its own transaction included, as card_windows defines them): exact at scoring time, with
no Feast request and no wait for the feature job's push. Transactions are taken in arrival order,
not held back for the watermark (that would add max_out_of_orderness_ms to every prediction); the
generator and most card sources publish a card's transactions in order. A checkpoint holds the
histories, so a restored job goes on with the same windows.
"""

from __future__ import annotations

from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from flink_jobs.events import Transaction
from flink_jobs.stages.features.card_windows import CardHistory
from flink_jobs.state_layout import STATE_TYPE, decode_history, encode_history


class RealtimeCardFeatures(KeyedProcessFunction):
    """Transaction in, (transaction, its card's window features) out; keyed by card_id."""

    def open(self, runtime_context: RuntimeContext) -> None:
        self.history = runtime_context.get_state(ValueStateDescriptor("card_history", STATE_TYPE))

    def process_element(self, value: Transaction, ctx: KeyedProcessFunction.Context):
        stored = self.history.value()
        history = decode_history(stored) if stored is not None else CardHistory()
        features = history.add(value.event_time_ms, value.amount, value.merchant_id)
        self.history.update(encode_history(history))
        yield value, features
