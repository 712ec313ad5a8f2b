"""What every job sets up the same way: its command-line flag for the connector, and the
execution environment (connector jars, parallelism, checkpoints, a bounded restart strategy)."""

from __future__ import annotations

import argparse

from pyflink.common.restart_strategy import RestartStrategies
from pyflink.datastream import CheckpointingMode, StreamExecutionEnvironment

from flink_jobs import pulsar_io

RESTART_ATTEMPTS = 3
RESTART_DELAY_MS = 10_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--connector-from-classpath",
        action="store_true",
        help="do not add the connector jars (the cluster already has them on its class path)",
    )


def create(args: argparse.Namespace, *, parallelism: int, checkpoint_interval_ms: int) -> StreamExecutionEnvironment:
    env = StreamExecutionEnvironment.get_execution_environment()
    if not args.connector_from_classpath:
        pulsar_io.add_connector_jars(env)
    env.set_parallelism(parallelism)
    env.enable_checkpointing(checkpoint_interval_ms, CheckpointingMode.EXACTLY_ONCE)
    # With checkpoints on, Flink's default is to restart forever: a broken job would hang silently.
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(RESTART_ATTEMPTS, RESTART_DELAY_MS))
    return env
