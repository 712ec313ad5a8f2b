"""A PyFlink DataStream job reads a Pulsar topic through the Flink connector and writes another,
and leaves nothing in the system's temp folder."""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid

import pulsar

from flink_jobs.config.topics import full_name
from rtai import pulsar_client
from rtai.demo.smoke import relay_args
from rtai.jobs import launcher
from rtai.stack import processes

MESSAGES = 1000
TIMEOUT_S = 180
QUIET_PERIOD_S = 5  # after the last expected message, so a late duplicate would still be seen


def test_relay_job_moves_every_message_exactly_once_and_leaves_no_temp_files(stack, tmp_path):
    system_tmp = set(os.listdir(tempfile.gettempdir()))
    run_id = uuid.uuid4().hex[:8]
    input_topic, output_topic = full_name(f"test-relay-in-{run_id}"), full_name(f"test-relay-out-{run_id}")
    sent = {f"{run_id}-{i}": json.dumps({"id": f"{run_id}-{i}", "n": i, "text": "é✓"}) for i in range(MESSAGES)}
    client = pulsar_client.connect(stack.pulsar_service_url)
    log = tmp_path / "relay.log"
    job = launcher.start_local("flink_jobs.jobs.relay", relay_args(stack, input_topic, output_topic), log)
    received: list[str] = []
    try:
        consumer = client.subscribe(output_topic, "test")
        producer = client.create_producer(input_topic)
        for body in sent.values():
            producer.send_async(body.encode(), None)
        producer.flush()

        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            assert processes.exit_code(job) is None, f"the job stopped:\n{log.read_text()[-3000:]}"
            try:
                msg = consumer.receive(timeout_millis=QUIET_PERIOD_S * 1000)
            except pulsar.Timeout:
                if len(received) >= MESSAGES:
                    break
                continue
            received.append(msg.data().decode())
            consumer.acknowledge(msg)
        # The running job's temp folder holds more than its owner file: the JVM's and Flink's.
        run_folders = [f for f in launcher.tmp_root().glob("relay-*") if len(list(f.iterdir())) > 1]
    finally:
        launcher.stop_local(job)
        client.close()

    ids = [json.loads(body)["id"] for body in received]
    assert len(ids) == len(set(ids)), "a message arrived twice"
    assert sorted(received) == sorted(sent.values())
    # Flink's RPC jar, io, netty, blob and Python folders went to the run's own folder, now gone.
    assert len(run_folders) == 1
    assert not run_folders[0].exists()
    assert sorted(set(os.listdir(tempfile.gettempdir())) - system_tmp) == []
