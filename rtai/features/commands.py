"""`rtai features ...`: the Feast CLI flow on the project's feature repository, the offline
tables computed from the history, and the training set."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from flink_jobs.config import pipeline_config
from rtai import paths
from rtai.generator.commands import DEFAULT_HISTORY

if TYPE_CHECKING:
    from rtai.stack.feast_repo import FeastRepo

DEFAULT_TRAINING_DIR = paths.RUN_DIR / "data" / "training"


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    features = subparsers.add_parser(
        "features", help="Feast: apply, materialize, list; offline tables from the history; training sets"
    )
    commands = features.add_subparsers(dest="features_command", required=True)
    commands.add_parser("apply", help="feast apply, and create the offline files push sources append to")
    materialize = commands.add_parser(
        "materialize",
        help="feast materialize-incremental up to now, or feast materialize START END with --start",
    )
    materialize.add_argument("--start", help="ISO-8601 start: a full `feast materialize START END`")
    materialize.add_argument("--end", help="ISO-8601 end (default: now)")
    commands.add_parser("views", help="feast feature-views list")

    backfill = commands.add_parser(
        "backfill",
        help="compute the batch feature views' tables and the history's real-time features into the repository",
    )
    backfill.add_argument("--history", type=Path, default=DEFAULT_HISTORY, help=f"(default {DEFAULT_HISTORY})")

    training = commands.add_parser(
        "training-set", help="a labelled training set by a point-in-time join (get_historical_features)"
    )
    training.add_argument("--history", type=Path, default=DEFAULT_HISTORY, help=f"(default {DEFAULT_HISTORY})")
    training.add_argument(
        "--pipeline", type=Path, default=paths.DEFAULT_PIPELINE, help="its [features] section is used"
    )
    training.add_argument("--out", type=Path, help=f"Parquet file (default {DEFAULT_TRAINING_DIR}/<service>.parquet)")
    training.add_argument("--days", type=float, help="only the last DAYS days of the history (default: all)")
    features.set_defaults(func=run)


def _history(path: Path) -> Path:
    from flink_jobs.errors import UserFacingError

    if not path.is_file():
        raise UserFacingError(f"no transaction history at {path}: write one with `rtai generate history`")
    return path.resolve()


def run(args: argparse.Namespace) -> None:
    from rtai.stack import config as stack_config
    from rtai.stack.feast_repo import FeastRepo

    repo = FeastRepo.of_stack(stack_config.load())
    if args.features_command == "apply":
        print(repo.apply(), end="")
    elif args.features_command == "materialize":
        materialize(repo, args.start, args.end)
    elif args.features_command == "views":
        print(repo.run("feature-views", "list"), end="")
    elif args.features_command == "backfill":
        backfill(repo, args.history)
    elif args.features_command == "training-set":
        features = pipeline_config.load(args.pipeline).features
        write_training_set(repo, features, args.history, args.out, args.days)


def materialize(repo: FeastRepo, start: str | None = None, end: str | None = None) -> None:
    """`feast materialize-incremental` up to `end` (default now), or `feast materialize START END`."""
    end = end or datetime.now(UTC).isoformat(timespec="seconds")
    print(repo.run("materialize", start, end) if start else repo.run("materialize-incremental", end), end="")


def backfill(repo: FeastRepo, history: Path = DEFAULT_HISTORY) -> None:
    """The batch feature views' tables and the history's real-time features, into the repository."""
    from rtai.console import step
    from rtai.features import backfill as tables

    history = _history(history)
    step(f"computing the offline feature tables of {repo.path} from {history}")
    report = tables.write_offline_tables(history, repo.path)
    for name, rows in report.rows.items():
        print(f"wrote {repo.path / name}: {rows:,} rows")
    print(f"backfill finished in {report.seconds:.1f} s; run `rtai features apply` and `rtai features materialize`")


def write_training_set(
    repo: FeastRepo,
    features: pipeline_config.FeaturesSection,
    history: Path = DEFAULT_HISTORY,
    out: Path | None = None,
    days: float | None = None,
) -> None:
    """A labelled training set by Feast's point-in-time join, run in the feast environment."""
    out = (out or DEFAULT_TRAINING_DIR / f"{features.service}.parquet").resolve()
    command = ["-m", "rtai.features.training_set", "--repo", str(repo.path)]
    command += ["--feature-store-yaml", str(repo.feature_store_yaml), "--history", str(_history(history))]
    command += ["--out", str(out), "--feature-service", features.service]
    command += ["--lag-ms", str(features.training_feature_lag_ms)]
    repo.python(*command, *(["--days", str(days)] if days else []))
