"""`rtai security credentials|grant`: the secure profile's credentials and Pulsar role grants."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from flink_jobs.config import pipeline_config
from flink_jobs.errors import UserFacingError
from rtai.paths import DEFAULT_PIPELINE

if TYPE_CHECKING:
    from rtai.stack.config import StackConfig


def _cmd_credentials(args: argparse.Namespace) -> None:
    from rtai.security.credentials import MAKE_CREDENTIALS

    if subprocess.run(["bash", str(MAKE_CREDENTIALS), *(["--force"] if args.force else [])]).returncode != 0:
        raise UserFacingError(f"{MAKE_CREDENTIALS.name} failed (its output is above)")


def _cmd_grant(args: argparse.Namespace) -> None:
    from rtai.stack import config as stack_config

    grant(stack_config.load(), pipeline_config.load(args.pipeline))


def grant(config: StackConfig, pipeline: pipeline_config.PipelineConfig) -> None:
    """`rtai security grant`: the pipeline's topics created on the secured Pulsar, each role of
    infra/security/pulsar-roles.toml given its actions on them."""
    from rtai.security import pulsar_grants
    from rtai.stack import secure_profile

    tls = secure_profile.pulsar_admin_tls(config)
    if tls is None:
        raise UserFacingError("the stack runs the open profile: nothing to grant (`rtai stack up --secure`)")
    for granted in pulsar_grants.apply(config.pulsar_admin_url, tls, pipeline):
        print(f"{granted.role:<14} {'+'.join(granted.actions):<16} {granted.topic}")


def add_subcommand(commands: argparse._SubParsersAction) -> None:
    text = "the secure profile: make its credentials, grant the Pulsar roles their topics"
    security = commands.add_parser("security", help=text, description=text)
    sub = security.add_subparsers(dest="security_command", required=True)
    text = "make the CA, certificates, tokens and keys under .run/secrets (scripts/make-credentials.sh)"
    credentials = sub.add_parser("credentials", help=text, description=text)
    credentials.add_argument("--force", action="store_true", help="regenerate everything (new CA, keys, tokens)")
    credentials.set_defaults(func=_cmd_credentials)
    text = (
        "create a pipeline's topics on the secured Pulsar and give each role of "
        "infra/security/pulsar-roles.toml its actions on them"
    )
    grant = sub.add_parser("grant", help=text, description=text)
    grant.add_argument("--pipeline", type=Path, default=DEFAULT_PIPELINE, help="pipeline config")
    grant.set_defaults(func=_cmd_grant)
