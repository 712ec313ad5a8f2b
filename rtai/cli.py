"""The project's command line: `rtai <command>` (or `python3.11 -m rtai <command>`).

Imports stay inside the commands: `setup` must run on the bare system Python
before any environment exists.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from flink_jobs.errors import UserFacingError
from rtai.arg_types import positive


def _cmd_setup(args: argparse.Namespace) -> None:
    from rtai.bootstrap import setup

    setup.run(with_redis=args.with_redis, with_monitoring=args.with_monitoring, with_kubectl=args.with_kubectl)


def _cmd_stack(args: argparse.Namespace) -> None:
    from rtai.stack import commands

    commands.run(args)


def _cmd_demo(args: argparse.Namespace) -> None:
    from rtai.demo import fraud
    from rtai.monitoring import process_metrics
    from rtai.paths import DEFAULT_PIPELINE, SECURE_PIPELINE

    with process_metrics.serving("demo"):
        pipeline = args.pipeline or (SECURE_PIPELINE if args.secure else DEFAULT_PIPELINE)
        fraud.run(pipeline, duration_s=args.duration_s, rate=args.rate, keep_up=args.keep_up, secure=args.secure)


def _cmd_smoke(args: argparse.Namespace) -> None:
    from rtai.demo import smoke

    smoke.run(events=args.events)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rtai",
        description="PyFlink streaming jobs for real-time AI: Pulsar in, Feast features, Triton inference, Pulsar out.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)
    from rtai.stack import profiles

    setup = commands.add_parser(
        "setup",
        help="check prerequisites, create the flink/feast/triton environments, fetch the Java artifacts",
    )
    setup.add_argument("--with-redis", action="store_true", help="also install redis-server with apt-get")
    setup.add_argument(
        "--with-monitoring",
        action="store_true",
        help="also install Prometheus and Alertmanager (prometheus, prometheus-alertmanager) with apt-get",
    )
    setup.add_argument(
        "--with-kubectl",
        action="store_true",
        help="also install kubectl (kubernetes-client) with apt-get, when none is on PATH: it renders infra/k8s",
    )
    setup.set_defaults(func=_cmd_setup)

    stack = commands.add_parser("stack", help="run the local stack (Pulsar, Feast, Triton, Redis, Flink)")
    stack_commands = stack.add_subparsers(dest="stack_command", required=True)
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
        sub = stack_commands.add_parser(name, help=text, description=text)
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
    scale = stack_commands.add_parser("scale", help=text, description=text)
    profiles.add_profile_option(scale)
    scale.add_argument("what", choices=["taskmanagers"], help="what to scale")
    scale.add_argument("count", type=positive(int), help="how many")
    stack.set_defaults(func=_cmd_stack)

    from rtai.features import commands as features_commands

    features_commands.add_subcommand(commands)

    from rtai.generator import cli as generator_cli

    generator_cli.add_subcommand(commands)

    from rtai.models import commands as model_commands

    model_commands.add_subcommand(commands)

    from rtai.jobs import commands as job_commands

    job_commands.add_subcommand(commands)

    from rtai.benchmarks import commands as bench_commands

    bench_commands.add_subcommand(commands)

    from rtai.serving import commands as serving_commands

    serving_commands.add_subcommand(commands)

    from rtai.actions import commands as action_commands

    action_commands.add_subcommand(commands)

    from rtai.monitoring import commands as monitor_commands

    monitor_commands.add_subcommand(commands)

    from rtai.stack import security_commands

    security_commands.add_subcommand(commands)

    from rtai.edge import commands as edge_commands

    edge_commands.add_subcommand(commands)

    from rtai.scaling import commands as scaling_commands

    scaling_commands.add_subcommand(commands)

    from rtai.k8s import commands as k8s_commands

    k8s_commands.add_subcommand(commands)

    from rtai.paths import DEFAULT_PIPELINE, SECURE_PIPELINE

    text = (
        "the fraud pipeline end to end: stack, features, model, feature and inference jobs, generated transactions; "
        "prints events in, predictions, alerts, dead letters and end-to-end latency"
    )
    demo = commands.add_parser("demo", help=text, description=text)
    demo.add_argument("--duration-s", type=float, default=60.0, help="seconds of publishing (default 60)")
    demo.add_argument("--rate", type=float, default=200.0, help="transactions per second (default 200)")
    demo.add_argument(
        "--pipeline",
        type=Path,
        help=f"pipeline config (default: {DEFAULT_PIPELINE.name}, with --secure {SECURE_PIPELINE.name})",
    )
    demo.add_argument("--keep-up", action="store_true", help="leave the stack running at the end")
    demo.add_argument(
        "--secure",
        action="store_true",
        help="the stack's secure profile: TLS, tokens, keys and passwords everywhere (docs/security.md)",
    )
    demo.set_defaults(func=_cmd_demo)

    text = "smoke pipeline: events into Pulsar, through a PyFlink relay job with the Pulsar connector, out again"
    smoke = commands.add_parser("smoke", help=text, description=text)
    smoke.add_argument("--events", type=int, default=1000, help="events to send (default 1000)")
    smoke.set_defaults(func=_cmd_smoke)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from rtai.console import configure_logging

    configure_logging(args.verbose)
    # SIGTERM as Ctrl-C: KeyboardInterrupt in the main thread, so every command's cleanup (the
    # jobs it started, its clients) runs; the Pulsar client turns any signal there into one anyway.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        args.func(args)
    except UserFacingError as err:
        from flink_jobs.redaction import redact

        print(f"error: {redact(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
