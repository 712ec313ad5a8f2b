"""Stack configs of their own beside infra/stack.toml, chosen with `--profile NAME`
(infra/NAME/stack.toml) or $RTAI_STACK_CONFIG. Standard library only: the CLI's parser uses it."""

from __future__ import annotations

import argparse
import os

from rtai import paths

STACK_CONFIG_VARIABLE = "RTAI_STACK_CONFIG"
PROFILES = {"edge": "one small box at a site: small heaps, no Triton, outputs replicated to the core (docs/edge.md)"}


def add_profile_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        help="a profile's stack config instead of infra/stack.toml: "
        + "; ".join(f"{name} = infra/{name}/stack.toml, {what}" for name, what in PROFILES.items()),
    )


def use_profile(args: argparse.Namespace) -> None:
    """The `--profile` given, for this command and every process it starts."""
    if getattr(args, "profile", None):
        os.environ[STACK_CONFIG_VARIABLE] = str(paths.INFRA_DIR / args.profile / "stack.toml")
