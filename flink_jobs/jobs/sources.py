"""The jobs' input: the pipeline's transactions topic, raw, in batches per key group, or parsed."""

from __future__ import annotations

from pyflink.common import Types
from pyflink.datastream import DataStream, KeyedStream, StreamExecutionEnvironment

from flink_jobs import java_operators
from flink_jobs.clients import pulsar_io
from flink_jobs.config import pipeline_config
from flink_jobs.stages.enrich.realtime_batch_features import RealtimeBatchFeatures
from flink_jobs.stages.features import history_seed
from flink_jobs.stages.input.parse import ParseTransactions
from flink_jobs.stages.input.parse_batches import ParseBatches


def topic_strings(
    env: StreamExecutionEnvironment,
    config: pipeline_config.PipelineConfig,
    job: pipeline_config.FeatureJobSection | pipeline_config.InferenceJobSection | pipeline_config.QualityJobSection,
    topic: str,
    name: str,
) -> DataStream:
    """A topic's messages as raw strings, read with the job's subscription, start position and
    fetch bounds ([<job>.source]), at the source's own parallelism."""
    return pulsar_io.string_source(
        env,
        pulsar_io.PulsarEndpoint.of_job(config, job),
        topic,
        job.subscription,
        start=job.start,
        name=name,
        max_fetch_time_ms=job.source.max_fetch_time_ms,
        max_fetch_records=job.source.max_fetch_records,
        fetch_idle_ms=job.source.fetch_idle_ms,
    ).set_parallelism(job.source.parallelism)


def raw_transactions(
    env: StreamExecutionEnvironment,
    config: pipeline_config.PipelineConfig,
    job: pipeline_config.FeatureJobSection | pipeline_config.InferenceJobSection,
) -> DataStream:
    """The pipeline's transactions topic as raw strings (topic_strings)."""
    return topic_strings(env, config, job, config.topics.transactions, "transactions")


def key_group_batches(
    env: StreamExecutionEnvironment,
    config: pipeline_config.PipelineConfig,
    job: pipeline_config.FeatureJobSection | pipeline_config.InferenceJobSection,
) -> KeyedStream:
    """The raw transactions in batches per key group of their card, formed in the JVM with the
    job's bounds (java_operators.batches_by_key_group), keyed for a Python operator."""
    return java_operators.batches_by_key_group(
        raw_transactions(env, config, job),
        "card_id",
        job.max_parallelism,
        job.max_batch_size,
        job.max_wait_ms,
        job.source.parallelism,
        job.flush_when_idle,
    )


def parsed_key_group_batches(
    env: StreamExecutionEnvironment,
    config: pipeline_config.PipelineConfig,
    job: pipeline_config.FeatureJobSection | pipeline_config.InferenceJobSection,
    job_name: str,
    seed_file: str,
    seed_field: str,
    parse_in_jvm: bool = False,
) -> tuple[KeyedStream, DataStream]:
    """The transactions in one list per fetch (java_operators.fetch_batches), parsed in one Python
    call per list (ParseBatches, sending each card's seed from `seed_file` with its first
    transaction), routed in the JVM into batches per key group of their card, keyed for the card
    windows (java_operators.parsed_by_key_group); and the dead letters of the parse. With
    `parse_in_jvm`, the JVM parses those it vouches for (java_operators.jvm_parsed_fetches) and
    the Python parse gets only the others."""
    raw = raw_transactions(env, config, job)
    bounds = (job.max_batch_size, job.max_wait_ms, job.source.parallelism, job.flush_when_idle)
    jvm_parsed = None
    if parse_in_jvm:
        seed_text = history_seed.text_copy(seed_file, seed_field)
        jvm_parsed, fetches = java_operators.jvm_parsed_fetches(raw, *bounds, config.events, seed_text)
    else:
        fetches = java_operators.fetch_batches(raw, *bounds)
    parse = ParseBatches(config.topics.transactions, job_name, config.events, seed_file, seed_field)
    parsed = fetches.process(parse, Types.STRING()).name("parse").uid("parse-fetches")
    return java_operators.parsed_by_key_group(
        parsed.set_parallelism(job.source.parallelism), "card_id", job.max_parallelism, jvm_parsed
    )


def card_window_documents(
    env: StreamExecutionEnvironment,
    config: pipeline_config.PipelineConfig,
    job: pipeline_config.FeatureJobSection | pipeline_config.InferenceJobSection,
    job_name: str,
    computes_view: bool,
    seed_field: str,
    in_card_order: bool = False,
    parse_in_jvm: bool = False,
) -> tuple[DataStream, DataStream | None]:
    """The java design's card stage, where `job.card_windows` puts it: one document per key
    group's batch, its rows with each card's window features (null without `computes_view`), the
    stage's keyed state the same either way; and the parse's dead letters when they leave apart
    from the documents (jvm), else None (python: in the documents)."""
    seed_file = job.card_history_seed if computes_view else ""
    if job.card_windows == "jvm":
        batches, dead_letters = parsed_key_group_batches(
            env, config, job, job_name, seed_file, seed_field, parse_in_jvm
        )
        return java_operators.card_windows(batches, computes_view, job.parallelism, in_card_order), dead_letters
    windows = RealtimeBatchFeatures(
        config.topics.transactions, job_name, config.events, computes_view, seed_file, seed_field, in_card_order
    )
    return key_group_batches(env, config, job).process(windows, Types.STRING()), None


def parsed_transactions(
    env: StreamExecutionEnvironment,
    config: pipeline_config.PipelineConfig,
    job: pipeline_config.FeatureJobSection | pipeline_config.InferenceJobSection,
    job_name: str,
) -> DataStream:
    """The pipeline's transactions (raw_transactions), parsed (bad messages on the DEAD_LETTERS
    side output), at the source's own parallelism."""
    parse = ParseTransactions(config.topics.transactions, job_name, config.events)
    raw = raw_transactions(env, config, job)
    return raw.process(parse).name("parse").uid("parse").set_parallelism(job.source.parallelism)
