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
from flink_jobs.jobs.arguments import latest_checkpoint
from rtai import pulsar_client
from rtai.demo.smoke import relay_args
from rtai.jobs import launcher
from rtai.stack import processes
from tests.stack_helpers import crash

MESSAGES = 1000
TIMEOUT_S = 180
QUIET_PERIOD_S = 5  # after the last expected message, so a late duplicate would still be seen

# The restore test: a backlog in producer batches of BATCH messages, the job killed once it has
# relayed KILL_AFTER of them; its checkpoints (every CHECKPOINT_MS) then fall inside batches. The
# output is written exactly once, so what the killed run relayed after its last checkpoint is
# aborted (after TRANSACTION_TIMEOUT_MS) and must come again from the restored run.
BATCHED_MESSAGES = 40_000
BATCH = 4000
KILL_AFTER = 8000
CHECKPOINT_MS = 100
TRANSACTION_TIMEOUT_MS = 30_000  # the restored run starts well within it
RESUMED_INSIDE_A_BATCH = "resuming inside the batch of"


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


def test_a_job_restored_from_a_checkpoint_inside_a_producer_batch_loses_none_of_the_batch(stack, tmp_path):
    """The connector alone (4.1.0) resumes after the checkpointed message's entry, skipping the
    rest of its batch (FLINK-36180); the jobs' source resumes at the message itself."""
    run_id = uuid.uuid4().hex[:8]
    input_topic, output_topic = full_name(f"test-batches-in-{run_id}"), full_name(f"test-batches-out-{run_id}")
    sent = {f"{run_id}-{i}" for i in range(BATCHED_MESSAGES)}
    client = pulsar_client.connect(stack.pulsar_service_url)
    args = [
        *relay_args(stack, input_topic, output_topic),
        "--checkpoint-dir", str(tmp_path / "checkpoints"),
        "--checkpoint-interval-ms", str(CHECKPOINT_MS),
        "--guarantee", "exactly-once",
        "--transaction-timeout-ms", str(TRANSACTION_TIMEOUT_MS),
    ]  # fmt: skip
    first = second = None
    received: list[str] = []
    try:
        consumer = client.subscribe(output_topic, "test")
        producer = client.create_producer(
            input_topic,
            batching_enabled=True,
            batching_max_messages=BATCH,
            batching_max_allowed_size_in_bytes=4 * 1024 * 1024,
            batching_max_publish_delay_ms=1000,
            block_if_queue_full=True,
        )
        results: list[pulsar.Result] = []
        for event_id in sorted(sent):
            producer.send_async(json.dumps({"id": event_id}).encode(), lambda result, _: results.append(result))
        producer.flush()
        assert results == [pulsar.Result.Ok] * BATCHED_MESSAGES
        reader = client.create_reader(input_topic, pulsar.MessageId.earliest)
        assert reader.read_next(timeout_millis=10_000).message_id().batch_index() >= 0, "the input is not batched"
        reader.close()

        first = launcher.start_local("flink_jobs.jobs.relay", args, tmp_path / "first.log")
        deadline = time.monotonic() + TIMEOUT_S
        while len(received) < KILL_AFTER and time.monotonic() < deadline:
            assert processes.exit_code(first) is None, (tmp_path / "first.log").read_text()[-3000:]
            received += _receive(consumer, 1.0)
        latest_checkpoint(tmp_path / "checkpoints")  # one completed
        crash(first)
        relayed_before = len(received)

        resume = [*args, "--from-savepoint", "latest"]
        second = launcher.start_local("flink_jobs.jobs.relay", resume, tmp_path / "second.log")
        while not sent <= set(received) and time.monotonic() < deadline:
            assert processes.exit_code(second) is None, (tmp_path / "second.log").read_text()[-3000:]
            received += _receive(consumer, 1.0)
        received += _receive(consumer, QUIET_PERIOD_S)
    finally:
        for job in (first, second):
            if job is not None:
                launcher.stop_local(job)
        client.close()

    assert relayed_before < BATCHED_MESSAGES, "the first run relayed everything before it was killed"
    missing = sent - set(received)
    assert not missing, f"{len(missing)} messages lost on the restore, e.g. {sorted(missing)[:5]}"
    assert len(received) == len(sent), f"{len(received) - len(sent)} messages relayed twice"
    jvm_logs = "".join(log.read_text() for log in (tmp_path / "second-jvm").glob("*.log"))
    assert RESUMED_INSIDE_A_BATCH in jvm_logs, "the checkpoint restored did not lie inside a batch"


def _receive(consumer: pulsar.Consumer, seconds: float) -> list[str]:
    """The ids of what arrives within `seconds`."""
    ids: list[str] = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        try:
            msg = consumer.receive(timeout_millis=100)
        except pulsar.Timeout:
            continue
        ids.append(json.loads(msg.data())["id"])
        consumer.acknowledge(msg)
    return ids
