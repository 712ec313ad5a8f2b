"""Relay job: one Pulsar topic to another through a Python operator, message for message, until cancelled.

The smallest job that exercises everything the real ones stand on: the Pulsar
source and sink of the Flink connector, a Python worker, checkpoints, and the
delivery guarantee. The smoke demo and the connector tests run it.
"""

from __future__ import annotations

import argparse

from pyflink.common import Types

from flink_jobs.clients import pulsar_io
from flink_jobs.config import pipeline_config
from flink_jobs.jobs import arguments, execution_environment, job_exit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service-url", default="pulsar://127.0.0.1:6650", help="Pulsar service URL")
    parser.add_argument("--admin-url", default="http://127.0.0.1:8080", help="Pulsar admin (HTTP) URL")
    parser.add_argument("--input-topic", required=True)
    parser.add_argument("--output-topic", required=True)
    parser.add_argument("--subscription", default="relay", help="subscription name on the input topic")
    parser.add_argument("--guarantee", choices=sorted(pulsar_io.GUARANTEES), default="at-least-once")
    parser.add_argument(
        "--transaction-timeout-ms",
        type=int,
        default=60_000,
        help="exactly-once: the broker aborts a transaction a killed run left open after this long; until "
        "then the output topic's consumers see nothing newer",
    )
    parser.add_argument("--checkpoint-interval-ms", type=int, default=2000)
    parser.add_argument("--parallelism", type=int, default=1)
    arguments.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.transaction_timeout_ms <= 0:
        parser.error(f"--transaction-timeout-ms must be > 0, got {args.transaction_timeout_ms}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # The pipelines' default restart strategy: with checkpoints on, Flink's own restarts forever.
    settings = pipeline_config.JobRuntime().restart_settings()
    env = execution_environment.create(
        args, parallelism=args.parallelism, checkpoint_interval_ms=args.checkpoint_interval_ms, settings=settings
    )
    endpoint = pulsar_io.PulsarEndpoint(args.service_url, args.admin_url)
    events = pulsar_io.string_source(env, endpoint, args.input_topic, args.subscription)
    # output_type makes the sink receive Java strings rather than pickled Python bytes.
    events.map(lambda value: value, output_type=Types.STRING()).name("relay").uid("relay").sink_to(
        pulsar_io.string_sink(
            endpoint, args.output_topic, guarantee=args.guarantee, transaction_timeout_ms=args.transaction_timeout_ms
        )
    ).name("pulsar-sink").uid("pulsar-sink")
    job_exit.execute(env, f"relay {args.input_topic} -> {args.output_topic}")


if __name__ == "__main__":
    main()
