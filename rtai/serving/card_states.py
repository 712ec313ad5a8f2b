"""Each card's real-time history, as the inference job keeps it, kept by the scoring API from the
transactions topic and from its own requests.

A reader follows the transactions topic (from its earliest message, or from history_s back) and
adds every valid transaction to its card's CardHistory, the same code and order as the job's
keyed state. A transaction the API scores is added at once, when its request comes, and is
published to the topic, so the job sees it too; when the reader meets it again it is skipped.
So a request's features are the job's for the same event, once the reader has caught up with
the card's earlier transactions: /health says ready from then on.

The running mean (amount_to_mean_ratio) counts what the reader has read: from the topic's
earliest message, the card's whole history the topic retains.
"""

from __future__ import annotations

import logging
import threading
import time

import pulsar
from cachetools import LRUCache

from flink_jobs.events import InvalidEvent, Transaction, parse
from flink_jobs.stages.features.card_windows import CardHistory

log = logging.getLogger(__name__)
OWN_EVENTS_KEPT = 100_000  # event ids of the API's own transactions not yet read back


class CardStates:
    def __init__(self, max_cards: int) -> None:
        self.histories: LRUCache[int, CardHistory] = LRUCache(maxsize=max_cards)
        self.own: LRUCache[str, None] = LRUCache(maxsize=OWN_EVENTS_KEPT)
        self.lock = threading.Lock()

    def add(self, event: Transaction, *, own: bool) -> dict[str, float | int] | None:
        """The event's features as of itself, and the event into its card's history; None for
        one of the API's own events read back from the topic (added already)."""
        with self.lock:
            if not own and event.event_id in self.own:
                del self.own[event.event_id]
                return None
            history = self.histories.get(event.card_id)
            if history is None:
                history = self.histories[event.card_id] = CardHistory()
            if own:
                self.own[event.event_id] = None
            return history.add(event.event_time_ms, event.amount, event.merchant_id)


class TopicReader(threading.Thread):
    """Follows the transactions topic into CardStates; `caught_up` once it has read what was
    there when it started."""

    def __init__(self, client: pulsar.Client, topic: str, states: CardStates, history_from_ms: int | None) -> None:
        super().__init__(daemon=True, name="transactions-reader")
        self.reader = client.create_reader(topic, pulsar.MessageId.earliest, receiver_queue_size=5000)
        if history_from_ms is not None:
            self.reader.seek(history_from_ms)
        self.states = states
        self.caught_up = threading.Event()
        self.stopping = threading.Event()
        self.read = 0

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                if not self.caught_up.is_set() and not self.reader.has_message_available():
                    self.caught_up.set()
                    log.info("card histories caught up with the topic: %d transactions read", self.read)
                message = self.reader.read_next(timeout_millis=200)
            except pulsar.Timeout:
                continue
            except pulsar.PulsarException as err:
                # A broker restarting (its first lookups time out or fail): the client reconnects;
                # the reader asks again rather than leaving the histories behind for good.
                log.warning("transactions topic not read, asking again in 1 s: %s", err)
                self.stopping.wait(1.0)
                continue
            try:
                event = parse(message.data())
            except InvalidEvent:
                continue  # the jobs dead-letter it; no card's history counts it
            self.states.add(event, own=False)
            self.read += 1

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)
        self.reader.close()


def history_start_ms(history: str, history_s: int) -> int | None:
    return None if history == "earliest" else time.time_ns() // 1_000_000 - history_s * 1000
