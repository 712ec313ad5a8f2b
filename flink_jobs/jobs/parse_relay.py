"""Parse relay: the inference job's source, parse stage and sinks with nothing in between.

The floor the stack allows a pipeline on this machine, run by `make bench` beside the inference
job with the same pipeline config (subscription, fetch bounds, Flink settings, delivery): each
valid transaction becomes a one-field record {"event_id"} on the predictions topic, each bad one
a dead letter. The job's throughput and latency over this job's are what enrichment and scoring cost.
"""

from __future__ import annotations

import json

from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment

from flink_jobs.config import pipeline_config
from flink_jobs.events import Transaction
from flink_jobs.jobs import execution_environment, sinks, sources
from flink_jobs.stages.input.parse import DEAD_LETTERS

JOB_NAME = "parse-relay"


def build(env: StreamExecutionEnvironment, config: pipeline_config.PipelineConfig) -> None:
    job = config.inference_job
    parsed = sources.parsed_transactions(env, config, job, JOB_NAME)
    sink = sinks.output_sinks(config, job)
    parsed.map(_record, output_type=Types.STRING()).name("relay").uid("relay").sink_to(
        sink(config.topics.predictions)
    ).name("predictions").uid("predictions")
    parsed.get_side_output(DEAD_LETTERS).sink_to(sink(config.topics.dead_letter)).name("dead-letters").uid(
        "dead-letters"
    )


def _record(event: Transaction) -> str:
    return json.dumps({"event_id": event.event_id})


def main(argv: list[str] | None = None) -> None:
    execution_environment.run_pipeline_job(
        __doc__.splitlines()[0], argv, lambda c: c.inference_job, build, "parse relay"
    )


if __name__ == "__main__":
    main()
