"""The batched asyncio consumer: what a user would write instead of a Flink job.

One Python process with pulsar-client: messages are received in batches (up to the inference
job's max_batch_size, or after its max_wait_ms), each batch is enriched with one Feast request for
the FeatureService (in a worker thread) and scored with batched Triton requests (asyncio), and
several batches are in flight at once (the Triton section's max_in_flight), so Feast, Triton and
the next receive overlap. Predictions are sent asynchronously; a message is acknowledged when its
prediction (or dead letter) is persisted. No state, no checkpoints: a crash redelivers what was
not acknowledged, and nothing computes features the feature store does not have. Runs until
stopped (SIGTERM):

    python -m rtai.benchmarks.asyncio_consumer --pipeline pipelines/fraud.toml
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path

import pulsar

from flink_jobs.clients.feast_client import FeastClient
from flink_jobs.clients.triton_client import TritonClient
from flink_jobs.config import pipeline_config
from flink_jobs.config.topics import full_name
from flink_jobs.events import InvalidEvent, parse
from flink_jobs.stages.enrich.enricher import Enricher
from flink_jobs.stages.inference.model_inputs import model_inputs
from flink_jobs.stages.output.dead_letters import dead_letter
from rtai import paths, pulsar_client
from rtai.benchmarks.naive_baseline import acknowledge_when_sent

JOB_NAME = "asyncio-consumer"


class BatchedConsumer:
    def __init__(self, config: pipeline_config.PipelineConfig) -> None:
        self.config = config
        job = config.inference_job
        self.client = pulsar_client.connect(config.pulsar.service_url)
        policy = pulsar.ConsumerBatchReceivePolicy(job.max_batch_size, -1, job.max_wait_ms)
        self.consumer = self.client.subscribe(
            full_name(config.topics.transactions),
            job.subscription,
            initial_position=pulsar.InitialPosition.Earliest,
            batch_receive_policy=policy,
            receiver_queue_size=max(1000, 4 * job.max_batch_size),
        )
        self.predictions = self.client.create_producer(
            full_name(config.topics.predictions), batching_max_publish_delay_ms=1
        )
        self.dead_letters = self.client.create_producer(full_name(config.topics.dead_letter))
        self.feast = FeastClient.from_calls(job.feast)
        self.enricher = Enricher(self.feast, config.features.service)
        self.triton = TritonClient.from_calls(job.triton, config.model.name)
        self.in_flight = asyncio.Semaphore(job.triton.max_in_flight)

    async def score(self, messages: list[pulsar.Message]) -> None:
        events, originals = [], []
        for message in messages:
            try:
                events.append(parse(message.data()))
                originals.append(message)
            except InvalidEvent as err:
                payload = message.data().decode("utf-8", "replace")
                record = dead_letter(payload, str(err), source_topic=self.config.topics.transactions, job=JOB_NAME)
                self.dead_letters.send_async(record.encode(), acknowledge_when_sent(self.consumer, message))
        if not events:
            return
        enriched = await asyncio.to_thread(self.enricher.enrich, events)
        outputs = await self.triton.infer(model_inputs(events, enriched))
        scores = next(iter(outputs.values())).reshape(-1)
        threshold = self.config.model.alert_threshold
        for event, message, raw in zip(events, originals, scores, strict=True):
            score = float(raw)
            body = json.dumps({"event_id": event.event_id, "score": score, "label": score >= threshold})
            self.predictions.send_async(body.encode(), acknowledge_when_sent(self.consumer, message))

    async def run(self, stopping: asyncio.Event) -> None:
        await self.triton.connect()
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task] = set()
        failures: list[BaseException] = []

        def finished(task: asyncio.Task) -> None:
            tasks.discard(task)
            self.in_flight.release()
            if not task.cancelled() and task.exception() is not None:
                failures.append(task.exception())

        while not stopping.is_set():
            if failures:
                raise failures[0]  # a Feast or Triton failure past its retries stops the consumer
            messages = list(await loop.run_in_executor(None, self.consumer.batch_receive))
            if not messages:
                continue
            await self.in_flight.acquire()
            task = asyncio.create_task(self.score(messages))
            tasks.add(task)
            task.add_done_callback(finished)
        await asyncio.gather(*tasks)

    async def close(self) -> None:
        self.predictions.flush()
        self.feast.close()
        await self.triton.close()
        self.client.close()


async def main_async(config: pipeline_config.PipelineConfig) -> None:
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    consumer = BatchedConsumer(config)
    try:
        await consumer.run(stopping)
    finally:
        await consumer.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", type=Path, default=paths.DEFAULT_PIPELINE)
    args = parser.parse_args(argv)
    asyncio.run(main_async(pipeline_config.load(args.pipeline)))


if __name__ == "__main__":
    main()
