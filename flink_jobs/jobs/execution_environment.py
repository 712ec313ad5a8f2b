"""A job's execution environment, set up the same way for every job: connector jars,
parallelism, checkpoints and recovery, the restart strategy, and the embedded Python's paths;
then the job built and run."""

from __future__ import annotations

import argparse
import os
import site
import tempfile
from collections.abc import Callable
from pathlib import Path

from pyflink.common import Configuration
from pyflink.datastream import CheckpointingMode, StreamExecutionEnvironment

import flink_jobs
from flink_jobs.clients import pulsar_io
from flink_jobs.config import pipeline_config
from flink_jobs.errors import UserFacingError
from flink_jobs.jobs import job_exit
from flink_jobs.jobs.arguments import LATEST, flink_conf, latest_checkpoint, parse_args


def _configuration(args: argparse.Namespace, settings: dict[str, str]) -> Configuration:
    config = Configuration()
    for key, value in settings.items():
        config.set_string(key, value)
    if args.checkpoint_dir is not None:
        config.set_string("execution.checkpointing.dir", args.checkpoint_dir.resolve().as_uri())
        config.set_string("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
    if args.from_savepoint == LATEST:
        if args.checkpoint_dir is None:
            raise UserFacingError("--from-savepoint latest needs --checkpoint-dir")
        config.set_string("execution.state-recovery.path", latest_checkpoint(args.checkpoint_dir).as_uri())
    elif args.from_savepoint:
        config.set_string("execution.state-recovery.path", args.from_savepoint)
    return config


def _python_path_for_thread_mode() -> None:
    """In thread mode the JVM embeds CPython (pemja), which sees only PYTHONPATH, not this venv:
    hand it this interpreter's packages and the folder holding flink_jobs before the JVM starts."""
    package_parent = str(Path(flink_jobs.__file__).resolve().parent.parent)
    entries = [*site.getsitepackages(), package_parent, os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(entry for entry in entries if entry)


def _local_jvm_options(options: str) -> None:
    """The local JVM's options (PyFlink passes JVM_ARGS to the JVM it starts; a cluster's client
    starts none), and its java.io.tmpdir (and so Flink's io.tmp.dirs, the MiniCluster's RPC jar,
    blob and Python staging folders) where this process's temp files go: TMPDIR when set, which
    the launcher points into the checkout's .run/tmp; the JVM itself ignores TMPDIR."""
    parts = (os.environ.get("JVM_ARGS", ""), options, f"-Djava.io.tmpdir={tempfile.gettempdir()}")
    os.environ["JVM_ARGS"] = " ".join(part for part in parts if part)


def create(
    args: argparse.Namespace,
    *,
    parallelism: int,
    checkpoint_interval_ms: int,
    settings: dict[str, str],
    jvm_options: str = "",
) -> StreamExecutionEnvironment:
    """`settings`: Flink configuration keys, as strings (-D on the command line wins), the
    restart strategy's among them (JobRuntime.flink_settings); `jvm_options`: a local run's JVM's."""
    settings = {**settings, **flink_conf(args.flink_conf)}
    if settings.get("python.execution-mode") == "thread":
        _python_path_for_thread_mode()
    _local_jvm_options(jvm_options)
    env = StreamExecutionEnvironment.get_execution_environment(_configuration(args, settings))
    if not args.connector_from_classpath:
        pulsar_io.add_connector_jars(env, args.connector_jars)
    env.set_parallelism(parallelism)
    env.enable_checkpointing(checkpoint_interval_ms, CheckpointingMode.EXACTLY_ONCE)
    return env


def run_pipeline_job(
    description: str,
    argv: list[str] | None,
    section: Callable[[pipeline_config.PipelineConfig], pipeline_config.JobRuntime],
    build: Callable[[StreamExecutionEnvironment, pipeline_config.PipelineConfig], None],
    job_name: str,
) -> None:
    """A pipeline job's main: its command line, its config section's runtime settings, build, execute."""
    args = parse_args(description, argv)
    config = pipeline_config.load(args.pipeline)
    runtime = section(config)
    env = create(
        args,
        parallelism=runtime.parallelism,
        checkpoint_interval_ms=runtime.checkpoint_interval_ms,
        settings=runtime.flink_settings(),
        jvm_options=runtime.local_jvm_options,
    )
    build(env, config)
    job_exit.execute(env, job_name)
