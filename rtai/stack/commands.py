"""`rtai stack up|down|status|logs|scale`: the local stack's services (rtai/stack/lifecycle.py).

Standard library only at import: the CLI's parser imports this module on the bare system Python."""

from __future__ import annotations

import argparse

from rtai.arg_types import positive
from rtai.stack import profiles


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    stack = subparsers.add_parser("stack", help="run the local stack (Pulsar, Feast, Triton, Redis, Flink)")
    stack_subparsers = stack.add_subparsers(dest="stack_command", required=True)
    for name, text in (
        ("up", "start the services and wait until each is healthy"),
        (
            "down",
            "stop every running service of the stack and all it spawned; the Flink cluster's jobs are stopped "
            "with a savepoint first (each one's path printed) and the cluster ends: nothing comes back at the next "
            "up (a cluster whose JobManager is not running keeps its jobs for the next up)",
        ),
        ("status", "one line per service: up, starting or down; ports; pid"),
        ("logs", "show the end of the services' log files"),
    ):
        sub = stack_subparsers.add_parser(name, help=text, description=text)
        profiles.add_profile_option(sub)
        sub.add_argument(
            "services",
            nargs="*",
            help="only these services (default: pulsar, feast, triton and the enabled optional ones)",
        )
        if name == "up":
            sub.add_argument(
                "--secure",
                action="store_true",
                help="the secure profile: TLS and credentials on every service (also: [security] profile = "
                '"secure" in infra/stack.toml, or RTAI_SECURITY_PROFILE=secure for every command)',
            )
            sub.add_argument("--with-redis", action="store_true", help="also start Redis")
            sub.add_argument("--with-flink", action="store_true", help="also start a standalone Flink cluster")
            sub.add_argument("--with-api", action="store_true", help="also start the scoring API (rtai serve)")
            sub.add_argument(
                "--with-monitoring",
                action="store_true",
                help="also start Prometheus, Alertmanager and the alert webhook receiver",
            )
        if name == "down":
            sub.add_argument(
                "--cancel-jobs",
                action="store_true",
                help="cancel the Flink cluster's jobs instead of stopping them with a savepoint (their last "
                "checkpoint is kept)",
            )
        if name == "logs":
            sub.add_argument("-n", "--lines", type=int, default=30, help="lines per service (default 30)")
    text = (
        "start or stop the Flink cluster's TaskManagers until N run (the count is kept for the next up); "
        'with [flink] mode = "reactive" in infra/stack.toml its job is rescaled to their slots'
    )
    scale = stack_subparsers.add_parser("scale", help=text, description=text)
    profiles.add_profile_option(scale)
    scale.add_argument("what", choices=["taskmanagers"], help="what to scale")
    scale.add_argument("count", type=positive(int), help="how many")
    stack.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> None:
    from rtai.stack import lifecycle

    lifecycle.run(args)
