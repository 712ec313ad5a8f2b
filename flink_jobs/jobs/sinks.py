"""The jobs' outputs: a sink to one of the pipeline's topics with the job's delivery guarantee."""

from __future__ import annotations

from collections.abc import Callable

from pyflink.datastream.connectors.pulsar import PulsarSink

from flink_jobs.clients import pulsar_io
from flink_jobs.config import pipeline_config


def output_sinks(
    config: pipeline_config.PipelineConfig, job: pipeline_config.InferenceJobSection
) -> Callable[[str], PulsarSink]:
    """A sink to one of the pipeline's output topics, with the job's delivery guarantee."""
    endpoint = pulsar_io.PulsarEndpoint.of_job(config, job)

    def sink(topic: str) -> PulsarSink:
        return pulsar_io.string_sink(
            endpoint, topic, guarantee=job.delivery, transaction_timeout_ms=job.transaction_timeout_ms
        )

    return sink
