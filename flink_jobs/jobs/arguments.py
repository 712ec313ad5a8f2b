"""A pipeline job's command line: its pipeline config file, the connector's jars, Flink
configuration keys (-D), and where checkpoints go and which one a run resumes from."""

from __future__ import annotations

import argparse
from pathlib import Path

from flink_jobs.errors import UserFacingError

LATEST = "latest"


def parse_args(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """A pipeline job's command line: its pipeline config file and the flags below."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--pipeline", type=Path, required=True, help="pipeline config file (TOML)")
    add_arguments(parser)
    return parser.parse_args(argv)


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


def flink_conf(pairs: list[str]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserFacingError(f"-D {pair!r}: expected KEY=VALUE, e.g. -D rest.bind-port=8082")
        settings[key.strip()] = value.strip()
    return settings
