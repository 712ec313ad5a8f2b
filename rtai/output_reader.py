"""Reads a pipeline's topics back, timed by Pulsar: each input's and each prediction's publish time.

One consumer on the transactions, predictions, alerts and dead-letter topics, subscribed before
anything is published (a new subscription starts at the latest message) and removed at the end. The demo and the
benchmarks measure end-to-end latency with it: prediction publish time - input publish time (or,
for exactly-once delivery, the time it read the prediction).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

import pulsar

from flink_jobs.config import pipeline_config
from flink_jobs.config.topics import full_name


@dataclass
class Outputs:
    published: dict[str, int] = field(default_factory=dict)  # event id -> input publish time (epoch ms)
    predictions: dict[str, tuple[int, dict]] = field(default_factory=dict)  # event id -> (publish time, prediction)
    # event id -> when this reader received its prediction (epoch ms): with exactly-once delivery
    # a prediction is published inside a transaction and readable only after the commit.
    read: dict[str, int] = field(default_factory=dict)
    frauds: set[str] = field(default_factory=set)  # inputs the generator marked is_fraud (its ground truth)
    alerts: list[dict] = field(default_factory=list)
    dead_letters: list[dict] = field(default_factory=list)  # of the `dead_letter_job` only
    duplicates: int = 0


class OutputReader(threading.Thread):
    def __init__(
        self, client: pulsar.Client, topics: pipeline_config.TopicsSection, subscription: str, dead_letter_job: str
    ) -> None:
        super().__init__(daemon=True)
        kinds = ("transactions", "predictions", "alerts", "dead_letter")
        self.topics = {full_name(getattr(topics, kind)): kind for kind in kinds}
        self.dead_letter_job = dead_letter_job
        self.consumer = client.subscribe(list(self.topics), subscription, receiver_queue_size=5000)
        self.outputs = Outputs()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                message = self.consumer.receive(timeout_millis=200)
            except pulsar.Timeout:
                continue
            self._take(self.topics[message.topic_name()], message)
            self.consumer.acknowledge(message)

    def _take(self, kind: str, message: pulsar.Message) -> None:
        out = self.outputs
        try:
            body = json.loads(message.data())
        except ValueError:
            return  # a malformed input: its dead letter is what counts
        if kind == "transactions":
            out.published[body.get("event_id", "")] = message.publish_timestamp()
            if body.get("is_fraud") is True:
                out.frauds.add(body["event_id"])
        elif kind == "predictions":
            if body["event_id"] in out.predictions:
                out.duplicates += 1
            out.predictions[body["event_id"]] = (message.publish_timestamp(), body)
            out.read[body["event_id"]] = time.time_ns() // 1_000_000
        elif kind == "alerts":
            out.alerts.append(body)
        elif body.get("job") == self.dead_letter_job:
            out.dead_letters.append(body)

    def stop(self) -> None:
        """Stops reading and removes the subscription: nothing is kept for it after."""
        self.stopping.set()
        self.join()
        self.consumer.unsubscribe()
