"""Delayed labels for the live stream: each transaction's truth (the generator's own fraud flag)
published on the labels topic some time after it, as outcomes become known in a card business.

A fraud is confirmed by its chargeback or the cardholder's dispute: days later, spread out
(lognormal, median `fraud_median_s`, sigma 0.75). A legitimate transaction is confirmed when its
dispute window closes without one: later still and more regular (median LEGIT_DELAY_FACTOR times
the fraud median, sigma 0.3). The medians default to days; a demo or a test compresses them.
"""

from __future__ import annotations

import heapq
import threading
import time

import numpy as np
import pulsar

from flink_jobs.events import Label, Transaction, label_json

FRAUD_SIGMA, LEGIT_SIGMA = 0.75, 0.3
LEGIT_DELAY_FACTOR = 4.0
DEFAULT_FRAUD_MEDIAN_S = 3 * 86_400.0


def label_delay_ms(is_fraud: bool, fraud_median_s: float, rng: np.random.Generator) -> int:
    median, sigma = (fraud_median_s, FRAUD_SIGMA) if is_fraud else (fraud_median_s * LEGIT_DELAY_FACTOR, LEGIT_SIGMA)
    return round(1000 * median * float(np.exp(sigma * rng.standard_normal())))


class DelayedLabels(threading.Thread):
    """Publishes each added transaction's label when its delay has passed."""

    def __init__(self, client: pulsar.Client, topic: str, fraud_median_s: float, seed: int) -> None:
        super().__init__(daemon=True, name="delayed-labels")
        self.client, self.producer = client, client.create_producer(topic)
        self.fraud_median_s = fraud_median_s
        self.rng = np.random.default_rng([seed, 7])
        self.pending: list[tuple[int, str, str]] = []  # (due epoch ms, event id, label JSON)
        self.lock = threading.Condition()
        self.stopping = threading.Event()
        self.sent = 0

    def add(self, tx: Transaction, sent_ms: int) -> None:
        due = sent_ms + label_delay_ms(bool(tx.is_fraud), self.fraud_median_s, self.rng)
        label = Label(tx.event_id, bool(tx.is_fraud), tx.event_time_ms, due)
        with self.lock:
            heapq.heappush(self.pending, (due, tx.event_id, label_json(label)))
            self.lock.notify()

    def run(self) -> None:
        while not self.stopping.is_set():
            with self.lock:
                wait_s = (self.pending[0][0] - time.time() * 1000) / 1000 if self.pending else 1.0
                if wait_s > 0:
                    self.lock.wait(min(wait_s, 1.0))
                    continue
                _, event_id, text = heapq.heappop(self.pending)
            self.producer.send_async(text.encode(), None, partition_key=event_id)
            self.sent += 1

    def drain(self, timeout_s: float) -> int:
        """Waits for the pending labels to go out (up to timeout_s); stops and closes the client;
        how many are left unsent."""
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.1)
        self.stopping.set()
        self.join(timeout=5)
        self.producer.flush()
        self.client.close()
        return len(self.pending)
