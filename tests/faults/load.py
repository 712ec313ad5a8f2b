"""Steady load for the fault suite: a paced publisher of generated transactions and a collector
of the jobs' outcomes (predictions and dead letters), each on a thread of its own.

The publisher numbers every event and tags it with the current phase (`phase-N` ids, the
phase's own cards), so a phase's events are counted by id after the fact, while the load goes
on between phases as it would in production. An event counts as sent once Pulsar acknowledged
it; the producer waits for a broker that is down (no send timeout) instead of failing, and
publishes in batches (rtai.pulsar_client.input_producer), so the jobs' checkpoints fall inside
batches too.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pulsar

from rtai import pulsar_client
from tests.fuzz_inputs import good_event

CARDS_PER_PHASE = 2000
CARD_BASE = 20_000_000  # cards no other test's Feast rows use
BETWEEN = "between"  # the tag of the load between phases


@dataclass
class Sent:
    """What one tag's events were: id -> (card, time of the send call in epoch ms)."""

    card: dict[str, int] = field(default_factory=dict)
    sent_ms: dict[str, float] = field(default_factory=dict)
    acked: set[str] = field(default_factory=set)
    failed: list[str] = field(default_factory=list)


class Publisher(threading.Thread):
    def __init__(self, client: pulsar.Client, topic: str, rate: float) -> None:
        super().__init__(name="fault-load-publisher", daemon=True)
        self.rate = rate
        self.tag = BETWEEN
        self.card_offset = CARD_BASE
        self.sent: dict[str, Sent] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # The events' other fields, rendered once: the loop must reach ten times the rate on a
        # machine whose cores the jobs use.
        rng = np.random.default_rng(2026)
        self._cards = [int(card) for card in rng.integers(0, CARDS_PER_PHASE, 65_536)]
        self._bodies = [_other_fields(good_event(rng, 0, datetime.now(UTC), 0)) for _ in range(4096)]
        self._producer = pulsar_client.input_producer(
            client,
            topic,
            block_if_queue_full=True,
            max_pending_messages=20_000,
            send_timeout_millis=0,  # wait for a broker that is down or restarting
        )

    def start_phase(self, tag: str, index: int) -> None:
        with self._lock:
            self.tag, self.card_offset = tag, CARD_BASE + (index + 1) * 100_000

    def end_phase(self) -> None:
        with self._lock:
            self.tag, self.card_offset = BETWEEN, CARD_BASE

    def run(self) -> None:
        started, count = time.monotonic(), 0.0
        due = 0.0
        while not self._stopping.is_set():
            now = time.monotonic()
            # At most a second behind: a publisher starved of CPU does not make up for it later.
            due = min(due + (now - started) * self.rate, count + self.rate)
            started = now
            at = datetime.now(UTC).isoformat(timespec="milliseconds")  # one event time per tick
            while count < due and not self._stopping.is_set():
                self._send_one(at, int(count))
                count += 1
            time.sleep(0.005)

    def _send_one(self, at: str, number: int) -> None:
        with self._lock:
            tag, offset = self.tag, self.card_offset
            record = self.sent.setdefault(tag, Sent())
            event_id = f"{tag}-{len(record.sent_ms)}"
            card = offset + self._cards[number % len(self._cards)]
            record.card[event_id] = card
            record.sent_ms[event_id] = time.time() * 1000

        def on_sent(result: pulsar.Result, _message_id: object) -> None:
            with self._lock:
                if result == pulsar.Result.Ok:
                    record.acked.add(event_id)
                else:
                    record.failed.append(f"{event_id}: {result}")

        body = self._bodies[number % len(self._bodies)]
        payload = f'{{"event_id":"{event_id}","event_time":"{at}","card_id":{card},{body}}}'
        self._producer.send_async(payload.encode(), on_sent)

    def snapshot(self) -> dict[str, Sent]:
        """A copy of what was sent so far, per tag (the publisher and its callbacks go on)."""
        with self._lock:
            return {
                tag: Sent(dict(r.card), dict(r.sent_ms), set(r.acked), list(r.failed)) for tag, r in self.sent.items()
            }

    def wait_answered(self, tag: str, timeout_s: float = 60) -> None:
        """Until the broker has answered (acknowledged or failed) every send of the phase `tag`."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                record = self.sent.get(tag, Sent())
                unanswered = len(record.sent_ms) - len(record.acked) - len(record.failed)
            if unanswered <= 0:
                return
            assert time.monotonic() < deadline, f"{unanswered} sends of {tag} unanswered after {timeout_s} s"
            time.sleep(0.1)

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=30)
        self._producer.flush()
        self._producer.close()


def _other_fields(event: dict) -> str:
    """The event's JSON members but event_id, event_time and card_id, without the braces."""
    rest = {k: v for k, v in event.items() if k not in ("event_id", "event_time", "card_id")}
    return json.dumps(rest, separators=(",", ":"))[1:-1]


@dataclass(frozen=True)
class Outcome:
    event_id: str
    published_ms: int
    job: str  # "prediction" or the dead letter's job
    scored_at_ms: int = 0  # a prediction's: equal in two copies of one send, unequal if scored twice
    scoring: str = "model"  # a prediction's path: "model", or "rate_bound" for a hot card's


class Collector(threading.Thread):
    """Reads one output topic from its start: every outcome with its publish time, once per
    message stored in the topic. A broker restart makes Pulsar redeliver to this subscription what
    it had received since its last acknowledgement; those messages are counted in `redelivered`,
    not as outcomes, so a duplicate outcome is one the job wrote twice."""

    def __init__(self, client: pulsar.Client, topic: str, kind: str, subscription: str = "fault-suite") -> None:
        super().__init__(name=f"fault-load-{kind}", daemon=True)
        self.kind = kind
        self.outcomes: list[Outcome] = []
        self.redelivered = 0
        self._seen: set[bytes] = set()
        self._stopping = threading.Event()
        self._consumer = client.subscribe(
            topic, subscription, initial_position=pulsar.InitialPosition.Earliest, receiver_queue_size=5000
        )

    def run(self) -> None:
        unacked = None
        while not self._stopping.is_set():
            try:
                message = self._consumer.receive(timeout_millis=500)
            except pulsar.Timeout:
                continue
            stored_as = message.message_id().serialize()
            if stored_as in self._seen:
                self.redelivered += 1
                continue
            self._seen.add(stored_as)
            record = json.loads(message.data())
            if self.kind == "prediction":
                outcome = Outcome(
                    record["event_id"],
                    message.publish_timestamp(),
                    "prediction",
                    record["scored_at_ms"],
                    record.get("scoring", "model"),
                )
            else:
                outcome = Outcome(_original_id(record), message.publish_timestamp(), record.get("job", "?"))
            self.outcomes.append(outcome)
            unacked = message
            if len(self.outcomes) % 1000 == 0:
                self._consumer.acknowledge_cumulative(unacked)
        if unacked is not None:
            self._consumer.acknowledge_cumulative(unacked)

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=30)
        self._consumer.close()


def _original_id(dead_letter: dict) -> str:
    try:
        return str(json.loads(dead_letter.get("payload", "")).get("event_id", "?"))
    except (ValueError, AttributeError):
        return "?"
