"""Model-quality job: delayed labels joined to the predictions, outcomes counted per model version.

predictions (Pulsar) -> (event_id, the prediction's version, label, score)
labels (Pulsar)      -> (event_id, is_fraud); bad or later than the label window -> dead-letter topic
-> keyed by event id: the first side waits for the other within label_window_ms, then the
outcome (tp, fp, fn, tn at the alert threshold) and the calibration bin are counted per model
version; Prometheus turns the counters into precision, recall and calibration over sliding
windows (rtai:live_*), and LivePrecisionLow / LiveRecallLow alert on them.
"""

from __future__ import annotations

from pyflink.datastream import StreamExecutionEnvironment

from flink_jobs.clients import pulsar_io
from flink_jobs.config import pipeline_config
from flink_jobs.jobs import execution_environment, sources
from flink_jobs.stages.input.parse import DEAD_LETTERS
from flink_jobs.stages.quality.join_labels import KEYED, JoinLabels, LabelKeys, PredictionKeys

JOB_NAME = "quality-job"  # in its dead letters
FLINK_JOB_NAME = "model quality"


def build(env: StreamExecutionEnvironment, config: pipeline_config.PipelineConfig) -> None:
    job = config.quality_job
    endpoint = pulsar_io.PulsarEndpoint.of_job(config, job)

    def source(topic: str, name: str):
        return sources.topic_strings(env, config, job, topic, name)

    predictions = (
        source(config.topics.predictions, "predictions")
        .process(PredictionKeys(), KEYED)
        .name("prediction-keys")
        .uid("prediction-keys")
    )
    labels = (
        source(config.topics.labels, "labels")
        .process(LabelKeys(config.topics.labels, JOB_NAME, job.label_window_ms), KEYED)
        .name("label-keys")
        .uid("label-keys")
    )
    predictions.union(labels).key_by(lambda keyed: keyed[0]).process(JoinLabels(job.label_window_ms)).name(
        "join-labels"
    ).uid("join-labels")
    dead_letters = labels.get_side_output(DEAD_LETTERS)
    dead_letters.sink_to(pulsar_io.string_sink(endpoint, config.topics.dead_letter)).name("dead-letters").uid(
        "dead-letters"
    )


def main(argv: list[str] | None = None) -> None:
    execution_environment.run_pipeline_job(
        __doc__.splitlines()[0], argv, lambda c: c.quality_job, build, FLINK_JOB_NAME
    )


if __name__ == "__main__":
    main()
