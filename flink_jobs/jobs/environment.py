"""What every job sets up the same way: its command-line flags for the connector and for
checkpoint storage and recovery, and the execution environment (connector jars, parallelism,
checkpoints, the restart strategy)."""

from __future__ import annotations

import argparse
import os
import site
import tempfile
from collections.abc import Callable
from pathlib import Path

from pyflink.common import Configuration
from pyflink.datastream import CheckpointingMode, DataStream, StreamExecutionEnvironment
from pyflink.datastream.connectors.pulsar import PulsarSink

import flink_jobs
from flink_jobs.clients import pulsar_io
from flink_jobs.config import pipeline_config
from flink_jobs.errors import UserFacingError
from flink_jobs.jobs import job_exit
from flink_jobs.stages.input.parse import ParseTransactions

LATEST = "latest"


def parse_args(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """A pipeline job's command line: its pipeline config file and the flags below."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--pipeline", type=Path, required=True, help="pipeline config file (TOML)")
    add_arguments(parser)
    return parser.parse_args(argv)


def raw_transactions(
    env: StreamExecutionEnvironment,
    config: pipeline_config.PipelineConfig,
    job: pipeline_config.FeatureJobSection | pipeline_config.InferenceJobSection,
    job_name: str,
) -> DataStream:
    """The pipeline's transactions topic as raw strings, read with the job's subscription and
    fetch bounds, at the source's own parallelism."""
    return pulsar_io.string_source(
        env,
        pulsar_io.PulsarEndpoint.of(config.pulsar, job.pulsar_token, job_name.replace("-", "_")),
        config.topics.transactions,
        job.subscription,
        start=job.start,
        name="transactions",
        max_fetch_time_ms=job.source.max_fetch_time_ms,
        max_fetch_records=job.source.max_fetch_records,
    ).set_parallelism(job.source.parallelism)


def parsed_transactions(
    env: StreamExecutionEnvironment,
    config: pipeline_config.PipelineConfig,
    job: pipeline_config.FeatureJobSection | pipeline_config.InferenceJobSection,
    job_name: str,
) -> DataStream:
    """The pipeline's transactions (raw_transactions), parsed (bad messages on the DEAD_LETTERS
    side output), at the source's own parallelism."""
    parse = ParseTransactions(config.topics.transactions, job_name, config.events)
    raw = raw_transactions(env, config, job, job_name)
    return raw.process(parse).name("parse").uid("parse").set_parallelism(job.source.parallelism)


def output_sinks(
    config: pipeline_config.PipelineConfig, job: pipeline_config.InferenceJobSection
) -> Callable[[str], PulsarSink]:
    """A sink to one of the pipeline's output topics, with the job's delivery guarantee."""
    endpoint = pulsar_io.PulsarEndpoint.of(config.pulsar, job.pulsar_token, "inference_job")

    def sink(topic: str) -> PulsarSink:
        return pulsar_io.string_sink(
            endpoint, topic, guarantee=job.delivery, transaction_timeout_ms=job.transaction_timeout_ms
        )

    return sink


def add_arguments(parser: argparse.ArgumentParser) -> None:
    connector = parser.add_mutually_exclusive_group(required=True)
    connector.add_argument(
        "--connector-jars",
        type=Path,
        metavar="DIR",
        help="the Flink Pulsar connector jars for a local run (`make setup` puts them in .cache/jars/flink-connectors)",
    )
    connector.add_argument(
        "--connector-from-classpath",
        action="store_true",
        help="do not add the connector jars (the cluster already has them on its class path)",
    )
    parser.add_argument(
        "-D",
        dest="flink_conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Flink configuration key for this run, as `flink run -D` takes it (for a local run, e.g. "
        "-D rest.bind-port=8082 serves the MiniCluster's REST API there); repeatable",
    )
    parser.add_argument(
        "--checkpoint-dir",
        type=Path,
        help="where checkpoints go (execution.checkpointing.dir); they are kept when the job is cancelled or dies, "
        "so a new run can resume from them. Default: the cluster's setting, or memory for a local run",
    )
    parser.add_argument(
        "--from-savepoint",
        metavar="PATH|latest",
        help="resume from a savepoint or kept checkpoint (execution.state-recovery.path); "
        "`latest`: the newest complete checkpoint under --checkpoint-dir",
    )


def latest_checkpoint(checkpoint_dir: Path) -> Path:
    """The newest complete checkpoint (a chk-N folder with its _metadata) of any job under checkpoint_dir."""
    complete = [metadata.parent for metadata in checkpoint_dir.glob("*/chk-*/_metadata")]
    if not complete:
        raise UserFacingError(f"no complete checkpoint under {checkpoint_dir} to resume from")
    return max(complete, key=lambda folder: (folder.stat().st_mtime, int(folder.name.removeprefix("chk-"))))


def _flink_conf(pairs: list[str]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserFacingError(f"-D {pair!r}: expected KEY=VALUE, e.g. -D rest.bind-port=8082")
        settings[key.strip()] = value.strip()
    return settings


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


def _jvm_temp_follows_tmpdir() -> None:
    """The local JVM's java.io.tmpdir (and so Flink's io.tmp.dirs, the MiniCluster's RPC jar,
    blob and Python staging folders) where this process's temp files go: TMPDIR when set,
    which the launcher points into the checkout's .run/tmp. PyFlink passes JVM_ARGS to the JVM
    it starts; the JVM itself ignores TMPDIR."""
    option = f"-Djava.io.tmpdir={tempfile.gettempdir()}"
    os.environ["JVM_ARGS"] = " ".join(part for part in (os.environ.get("JVM_ARGS", ""), option) if part)


def create(
    args: argparse.Namespace,
    *,
    parallelism: int,
    checkpoint_interval_ms: int,
    settings: dict[str, str],
) -> StreamExecutionEnvironment:
    """`settings`: Flink configuration keys, as strings (-D on the command line wins), the
    restart strategy's among them (JobRuntime.flink_settings)."""
    settings = {**settings, **_flink_conf(args.flink_conf)}
    if settings.get("python.execution-mode") == "thread":
        _python_path_for_thread_mode()
    _jvm_temp_follows_tmpdir()
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
    )
    build(env, config)
    job_exit.execute(env, job_name)
