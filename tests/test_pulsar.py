"""Pulsar standalone of the stack: produce and consume through pulsar-client."""

from __future__ import annotations

import json
import uuid

import pulsar

from flink_jobs.config.topics import full_name
from rtai import pulsar_client

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
