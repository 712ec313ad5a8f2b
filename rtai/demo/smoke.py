"""Smoke pipeline: events into a Pulsar topic, through the relay job (PyFlink with the
Pulsar connector, streaming on the embedded MiniCluster), out of another topic, counted."""

from __future__ import annotations

import json
import time
import uuid

import pulsar

from flink_jobs.config.topics import full_name
from flink_jobs.errors import UserFacingError
from rtai import paths, pulsar_client
from rtai.console import progress_bar, step
from rtai.jobs import launcher
from rtai.stack import config as stack_config
from rtai.stack import processes
from rtai.stack.probes import http_ok

RECEIVE_TIMEOUT_S = 120


def relay_args(cfg: stack_config.StackConfig, input_topic: str, output_topic: str) -> list[str]:
    return [
        "--service-url", cfg.pulsar_service_url,
        "--admin-url", cfg.pulsar_admin_url,
        "--input-topic", input_topic,
        "--output-topic", output_topic,
    ]  # fmt: skip


def run(events: int) -> None:
    cfg = stack_config.load()
    if cfg.secure:
        raise UserFacingError("rtai smoke runs on the stack's open profile; this one is secure (`rtai demo --secure`)")
    if not http_ok(f"{cfg.pulsar_admin_url}/admin/v2/brokers/health"):
        raise UserFacingError(f"Pulsar is not answering at {cfg.pulsar_admin_url}: start the stack (`make up`)")
    run_id = uuid.uuid4().hex[:8]
    input_topic, output_topic = full_name(f"smoke-in-{run_id}"), full_name(f"smoke-out-{run_id}")
    log_file = paths.RUN_DIR / "logs" / f"smoke-relay-{run_id}.log"
    client = pulsar_client.connect(cfg.pulsar_service_url)
    step(f"starting the relay job on the embedded Flink MiniCluster (log: {log_file})")
    job = launcher.start_local("flink_jobs.jobs.relay", relay_args(cfg, input_topic, output_topic), log_file)
    try:
        # Subscribe first so no output can be missed.
        consumer = client.subscribe(output_topic, f"smoke-{run_id}")
        step(f"publishing {events} events to {input_topic}")
        producer = pulsar_client.input_producer(client, input_topic)
        bar = progress_bar("published", events)
        for i in range(events):
            event = {"event_id": f"{run_id}-{i}", "seq": i, "amount": round(1 + i * 0.37 % 500, 2)}
            producer.send_async(json.dumps(event).encode(), callback=lambda _res, _msg: bar.update())
        producer.flush()
        bar.close()

        step(f"reading {output_topic}")
        received: dict[str, int] = {}
        bar = progress_bar("relayed", events)
        deadline = time.monotonic() + RECEIVE_TIMEOUT_S
        while sum(received.values()) < events and time.monotonic() < deadline:
            if processes.exit_code(job) is not None:
                raise UserFacingError(f"the relay job stopped; see {log_file}")
            try:
                msg = consumer.receive(timeout_millis=1000)
            except pulsar.Timeout:
                continue
            event_id = json.loads(msg.data())["event_id"]
            received[event_id] = received.get(event_id, 0) + 1
            consumer.acknowledge(msg)
            bar.update()
        bar.close()
    finally:
        launcher.stop_local(job)
        client.close()
    duplicates = sum(count - 1 for count in received.values())
    missing = events - len(received)
    print(f"events in: {events}  out: {sum(received.values())}  missing: {missing}  duplicates: {duplicates}")
    if missing:
        raise UserFacingError(f"{missing} of {events} events did not come out of {output_topic} (log: {log_file})")
