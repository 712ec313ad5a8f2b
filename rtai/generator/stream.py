"""Live transactions into Pulsar at a steady rate.

`events` decides what to send, a pure function of the population, seed, start time and rate;
`publish` only paces it to the wall clock and sends it.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pulsar
from prometheus_client import Counter, Gauge

from flink_jobs.config.topics import full_name
from flink_jobs.errors import UserFacingError
from flink_jobs.events import Transaction
from rtai import pulsar_client
from rtai.console import progress_bar
from rtai.generator import records
from rtai.generator.model import TransactionModel
from rtai.generator.population import Population

_EVENTS = 3  # seed stream of live events; the history uses 0 to 2
# The stream starts this far ahead of the command, time enough to plan its first events.
START_LEAD_MS = 1000


def events(population: Population, seed: int, start_ms: int, rate: float) -> Iterator[Transaction]:
    """Endless transactions, event i at start_ms + i/rate seconds; event ids `{seed:x}-{start_ms:x}-{index}`."""
    model = TransactionModel(population, np.random.default_rng([seed, _EVENTS, start_ms]))
    model.warm_up(start_ms, rate)
    block = math.ceil(rate)  # about a second of events per model call
    for first in itertools.count(0, block):
        index = np.arange(first, first + block, dtype=np.int64)
        times_ms = start_ms + np.floor(index * 1000 / rate).astype(np.int64)
        yield from records.to_transactions(model.fill(times_ms), f"{seed:x}-{start_ms:x}")


@dataclass(frozen=True)
class StreamReport:
    topic: str
    start_ms: int  # the stream's start: with seed and rate, it says which events were sent
    sent: int
    seconds: float
    max_lag_ms: float  # how far sending fell behind the events' times at worst

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


# Served by the process that publishes (rtai.monitoring.process_metrics: generator, demo, benchmarks).
PUBLISHED = Counter("rtai_generator_events_published", "Events handed to the Pulsar producer", ["topic"])
ACKNOWLEDGED = Counter("rtai_generator_events_acknowledged", "Events Pulsar acknowledged", ["topic"])
FAILED = Counter("rtai_generator_publish_failures", "Events Pulsar did not accept", ["topic"])
TARGET_RATE = Gauge("rtai_generator_target_rate_events_per_second", "The rate the generator paces to", ["topic"])
LAG = Gauge("rtai_generator_lag_seconds", "How far sending is behind the events' times", ["topic"])


class _Acks:
    """Counts the broker's answers; pulsar-client calls it from its own thread."""

    def __init__(self, topic: str) -> None:
        self.failed = 0
        self.first_error: pulsar.Result | None = None
        self.acknowledged, self.failures = ACKNOWLEDGED.labels(topic), FAILED.labels(topic)

    def __call__(self, result: pulsar.Result, _message_id: pulsar.MessageId) -> None:
        if result != pulsar.Result.Ok:
            self.failed += 1
            self.failures.inc()
            self.first_error = self.first_error or result
        else:
            self.acknowledged.inc()


def publish(
    service_url: str,
    topic: str,
    population: Population,
    *,
    seed: int,
    rate: float,
    count: int,
    paced: bool = True,
    on_sent: Callable[[Transaction, int], None] | None = None,
    client_options: Mapping[str, object] | None = None,
) -> StreamReport:
    """Sends `count` events at `rate` per second, each when the wall clock reaches its event time,
    keyed by card id with the event time as the message's event timestamp. Unpaced, it sends as
    fast as Pulsar takes them, event times still `rate` apart and ending now: the backlog a job
    finds after an outage (the jobs refuse event times far ahead of their clock).
    `on_sent(event, epoch ms)` is called as each event is handed to the producer; client_options:
    pulsar_client.connect's (a role's token and the CA)."""
    topic = full_name(topic)
    client = pulsar_client.connect(service_url, **(client_options or {}))
    try:
        try:
            producer = pulsar_client.input_producer(
                client,
                topic,
                block_if_queue_full=True,  # a slow broker slows the loop down instead of failing sends
                max_pending_messages=10_000,
            )
        except pulsar.PulsarException as err:
            raise UserFacingError(f"cannot publish to {topic} at {service_url}: {err}") from None
        acks = _Acks(topic)
        published, lag = PUBLISHED.labels(topic), LAG.labels(topic)
        TARGET_RATE.labels(topic).set(rate)
        lead_ms = START_LEAD_MS if paced else -round(count * 1000 / rate)
        start_ms = time.time_ns() // 1_000_000 + lead_ms
        started = time.monotonic() + lead_ms / 1000  # the same moment on the monotonic clock
        source = events(population, seed, start_ms, rate)
        first = next(source)  # plans the fraud warm-up and the first block before the first event is due
        time.sleep(max(0.0, started - time.monotonic()))
        sending_since = time.monotonic()
        bar = progress_bar("published", count)
        max_lag = 0.0
        for tx in itertools.islice(itertools.chain([first], source), count):
            wait = started + (tx.event_time_ms - start_ms) / 1000 - time.monotonic()
            if wait > 0 and paced:
                time.sleep(wait)
                lag.set(0)
            else:
                max_lag = max(max_lag, -wait)
                lag.set(-wait)
            producer.send_async(
                records.to_json(tx), acks, partition_key=str(tx.card_id), event_timestamp=tx.event_time_ms
            )
            published.inc()
            if on_sent is not None:
                on_sent(tx, time.time_ns() // 1_000_000)
            bar.update()
        producer.flush()
        seconds = time.monotonic() - sending_since
        bar.close()
    finally:
        client.close()
    if acks.failed:
        raise UserFacingError(f"{acks.failed} of {count} events were not accepted by Pulsar: {acks.first_error}")
    return StreamReport(topic, start_ms, count, seconds, max_lag * 1000)
