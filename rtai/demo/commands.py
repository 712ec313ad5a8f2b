"""`rtai demo` (the fraud pipeline end to end) and `rtai smoke` (a relay job through Pulsar)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rtai.paths import DEFAULT_PIPELINE, SECURE_PIPELINE


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    text = (
        "the fraud pipeline end to end: stack, features, model, feature and inference jobs, generated transactions; "
        "prints events in, predictions, alerts, dead letters and end-to-end latency"
    )
    demo = subparsers.add_parser("demo", help=text, description=text)
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
    demo.set_defaults(func=_run_demo)

    text = "smoke pipeline: events into Pulsar, through a PyFlink relay job with the Pulsar connector, out again"
    smoke = subparsers.add_parser("smoke", help=text, description=text)
    smoke.add_argument("--events", type=int, default=1000, help="events to send (default 1000)")
    smoke.set_defaults(func=_run_smoke)


def _run_demo(args: argparse.Namespace) -> None:
    from rtai.demo import fraud
    from rtai.monitoring import process_metrics

    with process_metrics.serving("demo"):
        pipeline = args.pipeline or (SECURE_PIPELINE if args.secure else DEFAULT_PIPELINE)
        fraud.run(pipeline, duration_s=args.duration_s, rate=args.rate, keep_up=args.keep_up, secure=args.secure)


def _run_smoke(args: argparse.Namespace) -> None:
    from rtai.demo import smoke

    smoke.run(events=args.events)
