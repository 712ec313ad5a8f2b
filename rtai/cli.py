"""The project's command line: `rtai <command>` (or `python3.11 -m rtai <command>`).

Each package registers its own commands (`add_subcommand` in its commands module). Imports stay
inside the commands: `setup` must run on the bare system Python before any environment exists.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from flink_jobs.errors import UserFacingError

# The modules that register commands, in the order `rtai --help` lists them.
COMMAND_MODULES = (
    "rtai.bootstrap.commands",
    "rtai.stack.commands",
    "rtai.features.commands",
    "rtai.generator.commands",
    "rtai.models.commands",
    "rtai.jobs.commands",
    "rtai.benchmarks.commands",
    "rtai.serving.commands",
    "rtai.actions.commands",
    "rtai.monitoring.commands",
    "rtai.stack.security_commands",
    "rtai.edge.commands",
    "rtai.scaling.commands",
    "rtai.k8s.commands",
    "rtai.demo.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rtai",
        description="PyFlink streaming jobs for real-time AI: Pulsar in, Feast features, Triton inference, Pulsar out.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_subcommand(commands)
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
