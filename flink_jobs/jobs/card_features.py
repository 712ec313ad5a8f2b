"""Feature job: card transactions from Pulsar to real-time card features in Feast.

With `batching = "java"` (and `card_windows = "jvm"`): transactions (Pulsar) -> in the JVM, one
list per fetch (up to max_batch_size, max_wait_ms, the source having nothing more to read with
flush_when_idle, and before every checkpoint barrier) -> one Python call per list: parse (bad ->
dead letters) -> in the JVM, batches per key group of their card -> keyed by key group, in the
JVM: each card's windows in arrival order (a transaction older than its card's latest -> late),
its history read and written once per batch -> the key groups' batches merged -> one Python
call per merged batch: /push to the Feast feature server (online, and offline for training), the
late transactions to dead letters -> in the JVM, the dead letters split out. With `push.writer =
"redis"`, the JVM writes each merged batch into Feast's Redis online store itself (no feature
server, no Python) and a Python call only for a batch that holds late transactions. No watermark: a row
is pushed as soon as its batch is computed. (`card_windows = "python"`: the JVM batches raw
events per key group and one Python call per key group's batch parses and computes the windows.)

With `batching = "python"`: transactions (Pulsar) -> parse (bad -> dead-letter topic) ->
event-time watermarks -> per card: counts and sums over 1 min / 10 min / 1 h, distinct
merchants in 10 min, seconds since the previous transaction, amount over the running mean, in
event-time order once the watermark passes -> batched /push to the Feast feature server.
"""

from __future__ import annotations

from pyflink.common import Duration, Types, WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment

from flink_jobs import java_operators
from flink_jobs.clients import pulsar_io
from flink_jobs.config import pipeline_config
from flink_jobs.jobs import execution_environment, sources
from flink_jobs.stages.features import history_seed
from flink_jobs.stages.features.batch_dead_letters import DeadLettersOfBatches
from flink_jobs.stages.features.card_features import CardFeatures, EventTime
from flink_jobs.stages.features.feast_push import PushToFeast
from flink_jobs.stages.features.push_batches import PushFeatureBatches
from flink_jobs.stages.input.parse import DEAD_LETTERS
from flink_jobs.subtask_keys import bucket_key

JOB_NAME = "feature-job"


def build(env: StreamExecutionEnvironment, config: pipeline_config.PipelineConfig) -> None:
    history_seed.check(config.feature_job.card_history_seed, history_seed.FEATURE_FIELD)
    if config.feature_job.batching == "java":
        build_java_batched(env, config)
    else:
        build_python_batched(env, config)


def build_java_batched(env: StreamExecutionEnvironment, config: pipeline_config.PipelineConfig) -> None:
    job = config.feature_job
    features, parse_dead_letters = sources.card_window_documents(
        env, config, job, JOB_NAME, True, history_seed.FEATURE_FIELD, in_card_order=True
    )
    features = features.name("card-features").uid("card-batch-features")
    merged = java_operators.merged_batches(features, job.max_parallelism, job.max_wait_ms, "merge-batches")
    if job.push.writer == "redis":
        written = java_operators.redis_online_writes(merged, job.redis, "redis-online-writes")
        late = DeadLettersOfBatches(config.topics.transactions, JOB_NAME)
        pushed = written.process(late, Types.STRING()).name("late-dead-letters").uid("late-dead-letters")
    else:
        push = PushFeatureBatches(job.feast, job.push, config.topics.transactions, JOB_NAME)
        pushed = merged.process(push, Types.STRING()).name("feast-push").uid("feast-push-batches")
    _, _, dead_letters, _ = java_operators.split_tagged_lines(pushed, "split")
    if parse_dead_letters is not None:
        dead_letters = parse_dead_letters.union(dead_letters)
    endpoint = pulsar_io.PulsarEndpoint.of_job(config, job)
    dead_letters.sink_to(pulsar_io.string_sink(endpoint, config.topics.dead_letter)).name("dead-letters").uid(
        "dead-letters"
    )


def build_python_batched(env: StreamExecutionEnvironment, config: pipeline_config.PipelineConfig) -> None:
    job = config.feature_job
    endpoint = pulsar_io.PulsarEndpoint.of_job(config, job)
    parsed = sources.parsed_transactions(env, config, job, JOB_NAME)
    watermarks = WatermarkStrategy.for_bounded_out_of_orderness(
        Duration.of_millis(job.max_out_of_orderness_ms)
    ).with_timestamp_assigner(EventTime())
    features = (
        parsed.assign_timestamps_and_watermarks(watermarks)
        .key_by(lambda event: event.card_id, key_type=Types.LONG())
        .process(CardFeatures(config.topics.transactions, JOB_NAME, job.card_history_seed))
        .name("card-features")
        .uid("card-features")
    )
    # One push buffer per subtask; a card's rows always go through the same one, in order.
    bucket = bucket_key(job.parallelism, job.max_parallelism)
    features.key_by(lambda row: bucket(row["card_id"]), key_type=Types.INT()).process(
        PushToFeast(job.feast, job.push)
    ).name("feast-push").uid("feast-push")

    dead_letters = parsed.get_side_output(DEAD_LETTERS).union(features.get_side_output(DEAD_LETTERS))
    dead_letters.sink_to(pulsar_io.string_sink(endpoint, config.topics.dead_letter)).name("dead-letters").uid(
        "dead-letters"
    )


def main(argv: list[str] | None = None) -> None:
    execution_environment.run_pipeline_job(
        __doc__.splitlines()[0], argv, lambda c: c.feature_job, build, "card features"
    )


if __name__ == "__main__":
    main()
