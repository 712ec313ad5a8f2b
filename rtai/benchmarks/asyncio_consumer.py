"""The batched asyncio consumer: what a user would write instead of a Flink job, doing the job's work.

One Python process with pulsar-client: messages are received in batches (up to the inference
job's max_batch_size, or after its max_wait_ms); each batch is parsed and checked as the job
does (bad input to the dead letters with its reason), each card's window features are computed
in memory by the job's CardHistory (started from the job's card history seed), and the batch
goes through the job's own scoring stage (ScoringStage: the cached batch views loaded at start
and renewed, one Feast request for the rest, batched Triton requests, the rate bound, the rules,
the same prediction and alert records, the same metrics, counted in memory). Several batches are
in flight at once (the Triton section's max_in_flight), so Feast, Triton and the next receive
overlap. Outputs are sent asynchronously; a batch's messages are acknowledged when all its
outputs are persisted. No checkpoints: a crash redelivers what was not acknowledged, and the
card windows of a restarted consumer start from the seed again. Runs until stopped (SIGTERM):

    python -m rtai.benchmarks.asyncio_consumer --pipeline pipelines/fraud.toml
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
from pathlib import Path

import pulsar

from flink_jobs.config import pipeline_config
from flink_jobs.config.topics import full_name
from flink_jobs.events import InvalidEvent, accepted
from flink_jobs.stages.features import history_seed
from flink_jobs.stages.features.card_windows import EVENTS_PER_MINUTE, CardHistory
from flink_jobs.stages.inference.scoring_stage import ALERT, DEAD_LETTER, PREDICTION, SHADOW, Output, ScoringStage
from flink_jobs.stages.output.dead_letters import dead_letter
from rtai import paths, pulsar_client
from rtai.benchmarks.local_metrics import LocalMetricGroup

JOB_NAME = "asyncio-consumer"
log = logging.getLogger(__name__)


class BatchAcknowledgement:
    """Acknowledges a batch's messages once every output of the batch is persisted; a failed send
    leaves them all to be redelivered."""

    def __init__(self, consumer: pulsar.Consumer, messages: list[pulsar.Message], sends: int) -> None:
        self.consumer, self.messages, self.left, self.failed = consumer, messages, sends, False
        if sends == 0:
            self._done()

    def sent(self, result: pulsar.Result, _message_id: object) -> None:
        if result != pulsar.Result.Ok and not self.failed:
            log.warning(
                "an output of a batch of %d was not sent (%s): the batch is redelivered", len(self.messages), result
            )
            self.failed = True
        self.left -= 1
        if self.left == 0:
            self._done()

    def _done(self) -> None:
        for message in self.messages:
            if self.failed:
                self.consumer.negative_acknowledge(message)
            else:
                self.consumer.acknowledge(message)


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
        topics = {PREDICTION: config.topics.predictions, ALERT: config.topics.alerts}
        topics |= {DEAD_LETTER: config.topics.dead_letter, SHADOW: config.topics.shadow_scores}
        self.producers = {
            # Blocking when the send queue is full: the backpressure a drain needs, not failed sends.
            kind: self.client.create_producer(
                full_name(topic), batching_max_publish_delay_ms=1, block_if_queue_full=True
            )
            for kind, topic in topics.items()
        }
        self.computes_view = job.realtime_features == "job"
        seed_file = job.card_history_seed if self.computes_view else ""
        self.seed = history_seed.load(seed_file, history_seed.INFERENCE_FIELD)
        self.histories: dict[int, CardHistory] = {}
        self.stage = ScoringStage(config, JOB_NAME)
        self.in_flight = asyncio.Semaphore(job.triton.max_in_flight)

    def _features(self, card: int, time_ms: int, amount: float, merchant: int) -> dict[str, float | int]:
        history = self.histories.get(card)
        if history is None:
            history = self.histories[card] = history_seed.starting_history(self.seed, card)
        return history.add(time_ms, amount, merchant)

    async def score(self, messages: list[pulsar.Message]) -> None:
        received_ms = time.time() * 1000
        outputs: list[Output] = []
        batch = []
        for message in messages:
            raw = message.data().decode("utf-8", "replace")
            try:
                event = accepted(raw, self.config.events, int(received_ms))
            except InvalidEvent as err:
                source = self.config.topics.transactions
                outputs.append((DEAD_LETTER, dead_letter(raw, str(err), source_topic=source, job=JOB_NAME)))
                continue
            features = (
                self._features(event.card_id, event.event_time_ms, event.amount, event.merchant_id)
                if self.computes_view
                else None
            )
            latest = self.stage.latest_score(event, features)
            if latest is None:
                batch.append((event, features, received_ms))
            else:
                rate = features[EVENTS_PER_MINUTE]
                outputs.extend(self.stage.past_rate_bound(event, rate, received_ms, latest))
        if batch:
            result = await asyncio.wrap_future(self.stage.submit(batch))
            outputs.extend(self.stage.scored(batch, result))
        acknowledgement = BatchAcknowledgement(self.consumer, messages, len(outputs))
        for kind, text in outputs:
            self.producers[kind].send_async(text.encode(), acknowledgement.sent)

    async def run(self, stopping: asyncio.Event) -> None:
        await asyncio.to_thread(self.stage.open, LocalMetricGroup())
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
        for producer in self.producers.values():
            producer.flush()
        self.stage.close()
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
