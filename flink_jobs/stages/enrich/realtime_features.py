"""The real-time card view computed where it is scored: each card's window features in the
inference job's own keyed state, by the same CardHistory the feature job and the backfill run.

Keyed by card, every transaction updates its card's history and leaves with its features as of
itself (its own transaction included, as card_windows defines them): exact at scoring time, with
no Feast request and no wait for the feature job's push. Transactions are taken in arrival order,
not held back for the watermark (that would add max_out_of_orderness_ms to every prediction); the
generator and most card sources publish a card's transactions in order. A checkpoint holds the
histories, so a restored job goes on with the same windows; a card with no state starts from its
seed (history_seed.py), when the job has one. A card's history is bounded
(card_windows.py), and the operator keeps the latest cards' decoded histories in memory, so a
busy card pays one state write per transaction, not a read and a decode too (the memory copy is
what the operator last wrote: it alone writes the card's state, and a restore starts it empty).
"""

from __future__ import annotations

from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from flink_jobs.events import Transaction
from flink_jobs.stages.enrich.decoded_histories import DecodedHistories
from flink_jobs.stages.features import history_seed
from flink_jobs.state_layout import STATE_TYPE, encode_history


class RealtimeCardFeatures(KeyedProcessFunction):
    """Transaction in, (transaction, its card's window features) out; keyed by card_id."""

    def __init__(self, seed_file: str = "") -> None:
        self.seed_file = seed_file

    def open(self, runtime_context: RuntimeContext) -> None:
        self.history = runtime_context.get_state(ValueStateDescriptor("card_history", STATE_TYPE))
        self.decoded = DecodedHistories(history_seed.load(self.seed_file, history_seed.INFERENCE_FIELD))

    def process_element(self, value: Transaction, ctx: KeyedProcessFunction.Context):
        history = self.decoded.get(value.card_id, self.history.value)
        features = history.add(value.event_time_ms, value.amount, value.merchant_id)
        self.history.update(encode_history(history))
        yield value, features
