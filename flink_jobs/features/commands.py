"""`rtai features apply|materialize|views`: the Feast CLI flow on the project's feature repository."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from flink_jobs import feast_repo
from flink_jobs.stack import config as stack_config


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    features = subparsers.add_parser("features", help="Feast: apply, materialize and list the feature repository")
    commands = features.add_subparsers(dest="features_command", required=True)
    commands.add_parser("apply", help="feast apply, and create the offline files push sources append to")
    materialize = commands.add_parser(
        "materialize",
        help="feast materialize-incremental up to now, or feast materialize START END with --start",
    )
    materialize.add_argument("--start", help="ISO-8601 start: a full `feast materialize START END`")
    materialize.add_argument("--end", help="ISO-8601 end (default: now)")
    commands.add_parser("views", help="feast feature-views list")
    features.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    repo = stack_config.load().feast.repo_path()
    if args.features_command == "apply":
        print(feast_repo.apply(repo), end="")
    elif args.features_command == "materialize":
        end = args.end or datetime.now(UTC).isoformat(timespec="seconds")
        if args.start:
            print(feast_repo.run(repo, "materialize", args.start, end), end="")
        else:
            print(feast_repo.run(repo, "materialize-incremental", end), end="")
    elif args.features_command == "views":
        print(feast_repo.run(repo, "feature-views", "list"), end="")
