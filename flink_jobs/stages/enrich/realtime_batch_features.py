"""The real-time card view for a batch of raw transactions, in the job's keyed state.

The batch holds the transactions of one key group (flink_jobs/java_operators.py, in arrival
order); the operator is keyed by the key group, and each card's history is an entry of a map
state under it. A batch is parsed (bad input to the dead letters with its reason, as the parse
stage does), each card's history is read once (its seed for a card with no state), every
transaction of the card gets its window features as of itself (its own transaction included, by
the CardHistory the feature job and the backfill run), and the history is written once. Out goes
one document for the whole batch:

    {"rows": [[transaction, features | null, received_ms], ...], "dead": [dead letter, ...]}

A rescale moves key groups with their state, so every card keeps its history. The operator keeps
the latest cards' decoded histories in memory: it alone writes their state, and a restore starts
it empty.
"""

from __future__ import annotations

import time
from functools import partial

import orjson
from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor

from flink_jobs.config.pipeline_config import EventsSection
from flink_jobs.events import InvalidEvent, accepted
from flink_jobs.metrics import ParseMetrics
from flink_jobs.stages.enrich.decoded_histories import DecodedHistories
from flink_jobs.stages.features import history_seed
from flink_jobs.stages.features.card_windows import CardHistory
from flink_jobs.stages.output.dead_letters import dead_letter
from flink_jobs.state_layout import STATE_TYPE, encode_history

# KeyGroupBatcher ends each flush with an empty batch to every subtask it sent batches to; this
# operator answers it with an empty string, on which BatchMerger closes its merged batch.
FLUSH_END = ""
LATE_REASON = "late event: event_time is before the card's latest transaction already processed"


class RealtimeBatchFeatures(KeyedProcessFunction):
    """`computes_view`: False when the job reads the view from Feast (realtime_features = "feast"):
    then the batch is parsed only, and each row's features are null."""

    def __init__(
        self,
        source_topic: str,
        job_name: str,
        window: EventsSection,
        computes_view: bool,
        seed_file: str = "",
        seed_field: str = history_seed.INFERENCE_FIELD,
        in_card_order: bool = False,
    ) -> None:
        """`seed_field`: the config key naming `seed_file`, for its errors. `in_card_order` (the
        feature job): a transaction older than its card's latest one already taken is a dead
        letter, so each card's rows leave in event-time order."""
        self.source_topic, self.job_name, self.window = source_topic, job_name, window
        self.computes_view, self.in_card_order = computes_view, in_card_order
        self.seed_file, self.seed_field = seed_file, seed_field

    def open(self, runtime_context: RuntimeContext) -> None:
        self.histories = runtime_context.get_map_state(MapStateDescriptor("card_histories", Types.LONG(), STATE_TYPE))
        self.metrics = ParseMetrics(runtime_context.get_metrics_group())
        seed = history_seed.load(self.seed_file, self.seed_field) if self.computes_view else None
        self.decoded = DecodedHistories(seed)

    def process_element(self, raws: list[str], ctx: KeyedProcessFunction.Context):
        if not raws:  # the end of an upstream flush: handed on for the merger
            yield FLUSH_END
            return
        received_ms = time.time() * 1000
        now_ms = int(received_ms)
        rows, dead, reasons = [], [], []
        touched: dict[int, CardHistory] = {}
        for raw in raws:
            try:
                event = accepted(raw, self.window, now_ms)
            except InvalidEvent as err:
                reasons.append(str(err))
                dead.append(dead_letter(raw, str(err), source_topic=self.source_topic, job=self.job_name))
                continue
            if not self.computes_view:
                rows.append((event, None, received_ms))
                continue
            history = touched.get(event.card_id)
            if history is None:
                card = event.card_id
                history = touched[card] = self.decoded.get(card, partial(self.histories.get, card))
            if self.in_card_order and history.newest_ms is not None and event.event_time_ms < history.newest_ms:
                reasons.append(LATE_REASON)
                dead.append(dead_letter(raw, LATE_REASON, source_topic=self.source_topic, job=self.job_name))
                continue
            rows.append((event, history.add(event.event_time_ms, event.amount, event.merchant_id), received_ms))
        for card, history in touched.items():
            self.histories.put(card, encode_history(history))
        self.metrics.batch(len(rows), reasons)
        yield orjson.dumps({"rows": rows, "dead": dead}).decode()
