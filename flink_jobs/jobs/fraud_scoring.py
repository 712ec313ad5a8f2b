"""Inference job: card transactions from Pulsar, enriched from Feast, scored on Triton, back to Pulsar.

With `batching = "java"`: transactions (Pulsar) -> in the JVM, batches of raw events per key
group of their card (up to max_batch_size, max_wait_ms, the source having nothing more to read
with flush_when_idle, and before every checkpoint barrier)
-> keyed by key group, one Python call per batch: parse (bad -> dead letters), each card's
real-time window features, its history read and written once per batch -> in the JVM, the
key groups' batches merged -> one Python call per merged batch: enrich from Feast (cached),
score on Triton, rules -> in the JVM, split into predictions, alerts and dead letters.

With `batching = "python"`: transactions (Pulsar) -> parse (bad -> dead-letter topic) -> per card: its real-time window
features in keyed state (unless read from Feast) -> one batching key per subtask -> batches of up
to max_batch_size or max_wait_ms -> one Feast request per batch for the FeatureService's other
views (cached) -> Triton -> predictions topic, and the alerts topic for the events a rule selects
(an event whose score is not a finite number: the dead-letter topic).
"""

from __future__ import annotations

from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment

from flink_jobs import java_operators
from flink_jobs.config import pipeline_config
from flink_jobs.events import Transaction
from flink_jobs.jobs import execution_environment, sinks, sources
from flink_jobs.stages.enrich.realtime_features import RealtimeCardFeatures
from flink_jobs.stages.features import history_seed
from flink_jobs.stages.inference.score_batches import ScoreBatches
from flink_jobs.stages.inference.score_whole_batches import ScoreWholeBatches
from flink_jobs.stages.input.parse import DEAD_LETTERS
from flink_jobs.stages.output.alerts import ALERTS
from flink_jobs.stages.output.shadow_scores import SHADOW_SCORES
from flink_jobs.subtask_keys import bucket_key

JOB_NAME = "inference-job"  # in its dead letters
FLINK_JOB_NAME = "fraud scoring"  # Flink's name of the job (the metrics' job_name label)


def build(env: StreamExecutionEnvironment, config: pipeline_config.PipelineConfig) -> None:
    if config.inference_job.realtime_features == "job":
        history_seed.check(config.inference_job.card_history_seed, history_seed.INFERENCE_FIELD)
    if config.inference_job.batching == "java":
        build_java_batched(env, config)
    else:
        build_python_batched(env, config)


def build_java_batched(env: StreamExecutionEnvironment, config: pipeline_config.PipelineConfig) -> None:
    job = config.inference_job
    with_features, parse_dead_letters = sources.card_window_documents(
        env,
        config,
        job,
        JOB_NAME,
        job.realtime_features == "job",
        history_seed.INFERENCE_FIELD,
        parse_in_jvm=job.parse == "jvm",
    )
    with_features = with_features.name("card-realtime-features").uid("card-realtime-batch-features")
    if job.batch_start == "held":
        merged = java_operators.scoring_gate(with_features, job.max_batch_size, job.poll_ms, "hold-for-scoring")
    else:
        drain_after_ms = job.drain_after_ms or job.max_wait_ms
        merged = java_operators.merged_batches(with_features, job.max_parallelism, drain_after_ms, "merge-batches")
    if job.scoring_task == "own":
        merged = merged.start_new_chain()
    scored = merged.process(ScoreWholeBatches(config, JOB_NAME), Types.STRING()).name("enrich-and-score")
    outputs = java_operators.split_tagged_lines(scored.uid("score-whole-batches"), "split")
    predictions, alerts, dead_letters, shadow_scores = outputs
    sink = sinks.output_sinks(config, job)
    predictions.sink_to(sink(config.topics.predictions)).name("predictions").uid("predictions")
    alerts.sink_to(sink(config.topics.alerts)).name("alerts").uid("alerts")
    if parse_dead_letters is not None:
        dead_letters = parse_dead_letters.union(dead_letters)
    dead_letters.sink_to(sink(config.topics.dead_letter)).name("dead-letters").uid("dead-letters")
    if config.model.shadow.version:
        shadow_scores.sink_to(sink(config.topics.shadow_scores)).name("shadow-scores").uid("shadow-scores")


def build_python_batched(env: StreamExecutionEnvironment, config: pipeline_config.PipelineConfig) -> None:
    job = config.inference_job
    parsed = sources.parsed_transactions(env, config, job, JOB_NAME)
    bucket = bucket_key(job.parallelism, job.max_parallelism)
    to_score = parsed
    if job.realtime_features == "job":
        to_score = (
            parsed.key_by(lambda event: event.card_id, key_type=Types.LONG())
            .process(RealtimeCardFeatures(job.card_history_seed))
            .name("card-realtime-features")
            .uid("card-realtime-features")
        )
    predictions = (
        to_score.key_by(lambda item: bucket(_card_of(item)), key_type=Types.INT())
        .process(ScoreBatches(config, JOB_NAME), output_type=Types.STRING())
        .name("enrich-and-score")
        .uid("enrich-and-score")
    )
    sink = sinks.output_sinks(config, job)
    predictions.sink_to(sink(config.topics.predictions)).name("predictions").uid("predictions")
    predictions.get_side_output(ALERTS).sink_to(sink(config.topics.alerts)).name("alerts").uid("alerts")
    dead_letters = parsed.get_side_output(DEAD_LETTERS).union(predictions.get_side_output(DEAD_LETTERS))
    dead_letters.sink_to(sink(config.topics.dead_letter)).name("dead-letters").uid("dead-letters")
    if config.model.shadow.version:
        shadow_scores = predictions.get_side_output(SHADOW_SCORES)
        shadow_scores.sink_to(sink(config.topics.shadow_scores)).name("shadow-scores").uid("shadow-scores")


def _card_of(item: Transaction | tuple[Transaction, dict]) -> int:
    return item[0].card_id if isinstance(item, tuple) else item.card_id


def main(argv: list[str] | None = None) -> None:
    execution_environment.run_pipeline_job(
        __doc__.splitlines()[0], argv, lambda c: c.inference_job, build, FLINK_JOB_NAME
    )


if __name__ == "__main__":
    main()
