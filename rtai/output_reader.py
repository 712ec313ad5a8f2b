"""Reads a pipeline's topics back, timed by Pulsar: each input's and each prediction's publish time.

One consumer on the transactions, predictions, alerts and dead-letter topics, subscribed before
anything is published (a new subscription starts at the latest message) and removed at the end. The demo and the
benchmarks measure end-to-end latency with it: prediction publish time - input publish time (or,
for exactly-once delivery, the time it read the prediction).

It shares the machine with what it measures, so it reads in batches and keeps each prediction as
the bytes published: a dict per prediction kept for the whole run had the cyclic GC scanning
them again and again (a quarter of the reader's CPU in a drain), and the stdlib's JSON parser was
another half. Messages are not acknowledged: the subscription is exclusive (its dispatch does not
wait for acknowledgements) and removed at the end with everything it holds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import orjson
import pulsar

from flink_jobs.config import pipeline_config
from flink_jobs.config.topics import full_name


@dataclass
class Outputs:
    published: dict[str, int] = field(default_factory=dict)  # event id -> input publish time (epoch ms)
    # event id -> (publish time, the prediction's JSON as published; `prediction` parses it)
    predictions: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    # event id -> when this reader received its prediction (epoch ms): with exactly-once delivery
    # a prediction is published inside a transaction and readable only after the commit.
    read: dict[str, int] = field(default_factory=dict)
    frauds: set[str] = field(default_factory=set)  # inputs the generator marked is_fraud (its ground truth)
    alerts: list[dict] = field(default_factory=list)
    dead_letters: list[dict] = field(default_factory=list)  # of the `dead_letter_job` only
    duplicates: int = 0

    def prediction(self, event_id: str) -> dict:
        return orjson.loads(self.predictions[event_id][1])


BATCH_MESSAGES, BATCH_WAIT_MS = 1000, 20  # one receive call for up to this many, or after this long


class OutputReader(threading.Thread):
    def __init__(
        self, client: pulsar.Client, topics: pipeline_config.TopicsSection, subscription: str, dead_letter_job: str
    ) -> None:
        super().__init__(daemon=True)
        kinds = ("transactions", "predictions", "alerts", "dead_letter")
        self.topics = {full_name(getattr(topics, kind)): kind for kind in kinds}
        self.dead_letter_job = dead_letter_job
        self.consumer = client.subscribe(
            list(self.topics),
            subscription,
            receiver_queue_size=5000,
            batch_receive_policy=pulsar.ConsumerBatchReceivePolicy(BATCH_MESSAGES, -1, BATCH_WAIT_MS),
        )
        self.outputs = Outputs()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            for message in self.consumer.batch_receive():
                self._take(self.topics[message.topic_name()], message)

    def _take(self, kind: str, message: pulsar.Message) -> None:
        out = self.outputs
        data = message.data()
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            return  # a malformed input: its dead letter is what counts
        if not isinstance(body, dict):
            return  # valid JSON but not an object: malformed too
        if kind == "transactions":
            out.published[body.get("event_id", "")] = message.publish_timestamp()
            if body.get("is_fraud") is True:
                out.frauds.add(body["event_id"])
        elif kind == "predictions":
            if body["event_id"] in out.predictions:
                out.duplicates += 1
            out.predictions[body["event_id"]] = (message.publish_timestamp(), data)
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
