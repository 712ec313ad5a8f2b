"""`rtai actions`: act on the pipeline's alerts (rtai.actions.alert_actions)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rtai import paths


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    actions = subparsers.add_parser("actions", help="deliver every alert to the pipeline's [actions] endpoint")
    commands = actions.add_subparsers(dest="actions_command", required=True)
    text = "POST each alert to [actions] url (retries, Idempotency-Key), the ones it cannot take to a dead-letter topic"
    run = commands.add_parser("run", help=text, description=text)
    run.add_argument("--pipeline", type=Path, default=paths.DEFAULT_PIPELINE, help="pipeline config")
    actions.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> None:
    from flink_jobs.config import pipeline_config
    from flink_jobs.errors import UserFacingError
    from rtai.actions import alert_actions

    config = pipeline_config.load(args.pipeline)
    if not config.actions.url:
        raise UserFacingError(f"{args.pipeline} has no [actions] url: nowhere to deliver alerts")
    options = {"tls_trust_certs_file": config.pulsar.tls_trust_certs_file, "token": config.actions.pulsar_token}
    alert_actions.run(config, options)
