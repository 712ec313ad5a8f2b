"""Pulsar standalone of the stack: produce and consume through pulsar-client; its data survives a SIGKILL."""

from __future__ import annotations

import contextlib
import json
import time
import uuid

import pulsar

from flink_jobs.config.topics import full_name
from rtai import pulsar_client
from tests.stack_helpers import IsolatedStack, cli, isolated_stack, start_service, stop_service

MESSAGES = 1000
KEYS = 20


def test_thousand_messages_arrive_intact_and_in_order_per_key(stack):
    topic = full_name(f"test-pulsar-{uuid.uuid4().hex[:8]}")
    client = pulsar_client.connect(stack.pulsar_service_url)
    try:
        consumer = client.subscribe(topic, "test", consumer_type=pulsar.ConsumerType.Exclusive)
        producer = client.create_producer(topic)
        sent = []
        for i in range(MESSAGES):
            body = {"key": f"card-{i % KEYS}", "seq": i, "payload": f"amount={i * 1.5:.2f}"}
            sent.append(body)
            producer.send_async(json.dumps(body).encode(), None, partition_key=body["key"])
        producer.flush()

        received = []
        for _ in range(MESSAGES):
            msg = consumer.receive(timeout_millis=10_000)
            received.append((msg.partition_key(), json.loads(msg.data())))
            consumer.acknowledge(msg)
    finally:
        client.close()

    assert sorted((b["seq"], b["key"], b["payload"]) for _, b in received) == [
        (b["seq"], b["key"], b["payload"]) for b in sent
    ]
    assert all(key == body["key"] for key, body in received)
    for key in {b["key"] for b in sent}:
        sequence = [body["seq"] for k, body in received if k == key]
        assert sequence == sorted(sequence), f"messages of {key} out of order"
        assert len(sequence) == MESSAGES // KEYS


def test_acknowledged_messages_survive_a_sigkill_of_the_broker_and_it_restarts_on_its_data(tmp_path):
    """A Pulsar of its own (isolated ports and .run): a producer sends while the broker is killed
    with SIGKILL (its container killed in container mode); it starts again on the same data, in
    bounded time, and every message the producer saw acknowledged is there."""
    with isolated_stack(tmp_path, ["pulsar"]) as isolated:
        topic = full_name(f"test-durability-{uuid.uuid4().hex[:8]}")
        acked: set[int] = set()
        client = pulsar_client.connect(isolated.config.pulsar_service_url)
        producer = client.create_producer(topic, block_if_queue_full=True, send_timeout_millis=3000)

        def send(n: int) -> None:
            def on_ack(result: pulsar.Result, _id: object) -> None:
                if result == pulsar.Result.Ok:
                    acked.add(n)

            producer.send_async(f"{n}".encode(), on_ack)

        for n in range(1500):
            send(n)
        producer.flush()
        for n in range(1500, 3000):  # paced: the kill lands among messages in flight
            send(n)
            time.sleep(0.001)
            if n == 2200:
                stop_service(isolated, "pulsar", kill=True)
        with contextlib.suppress(pulsar.PulsarException):
            producer.flush()
        client.close()
        killed_at = time.monotonic()
        output = start_service(isolated, "pulsar")
        restart_s = time.monotonic() - killed_at
        assert "wipe" not in output

        client, reader = reader_once_loaded(isolated, topic, within_s=120)
        present = set()
        while reader.has_message_available():
            present.add(int(reader.read_next(5000).data()))
        client.close()
    assert len(acked) >= 1500
    assert acked <= present
    assert restart_s < 60


def reader_once_loaded(isolated: IsolatedStack, topic: str, within_s: float) -> tuple[pulsar.Client, pulsar.Reader]:
    """A client and its reader from the earliest message of `topic`, retried until the restarted
    broker has loaded it (healthy is not loaded: the topic's ledger is recovered on first use).
    Each try has a client of its own, so a connection the client made while the broker was still
    starting is not the one tried again; a topic still not readable fails with the broker's log."""
    deadline = time.monotonic() + within_s
    while True:
        client = pulsar_client.connect(isolated.config.pulsar_service_url)
        try:
            return client, client.create_reader(topic, pulsar.MessageId.earliest)
        except pulsar.PulsarException as error:
            client.close()
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{topic} not readable {within_s:.0f} s after the broker was healthy; the broker's "
                    f"warnings and errors:\n{broker_problems(isolated)}"
                ) from error
            time.sleep(1)


def broker_problems(isolated: IsolatedStack, lines: int = 40) -> str:
    """The last `lines` WARN and ERROR lines of the broker's log (`rtai stack logs pulsar`)."""
    log = cli("stack", "logs", "pulsar", "-n", "5000", env=isolated.env).stdout
    problems = [line for line in log.splitlines() if " WARN " in line or " ERROR " in line]
    return "\n".join(problems[-lines:]) or "(none)"
