"""`rtai scaling replay`: a load trace through the HPA rule and the Flink autoscaler's rule."""

from __future__ import annotations

import argparse
from pathlib import Path

from flink_jobs.errors import UserFacingError
from rtai import paths

DEFAULT_TRACE = paths.PROJECT_ROOT / "bench" / "traces" / "ramp.csv"
DEFAULT_OUT = paths.PROJECT_ROOT / "bench" / "results" / "scaling-replay.json"


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    scaling = subparsers.add_parser("scaling", help="the scaling rules, replayed on a load trace before deploying")
    kinds = scaling.add_subparsers(dest="scaling_command", required=True)
    text = (
        "replay a load trace (CSV: time_s, events_per_s) through the HPA rule and the Flink autoscaler's rule; "
        "prints each rule's replicas over time and writes JSON and a PNG beside --out"
    )
    replay = kinds.add_parser("replay", help=text, description=text)
    replay.add_argument(
        "--trace", type=Path, default=DEFAULT_TRACE, help=f"the load trace (default {DEFAULT_TRACE.name})"
    )
    replay.add_argument("--capacity", type=float, required=True, help="events/s one replica processes at full busy")
    replay.add_argument("--rescale-s", type=float, default=30.0, help="seconds a rescale stops processing (default 30)")
    replay.add_argument("--period-s", type=float, default=15.0, help="seconds between decisions (default 15)")
    replay.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="result JSON (default bench/results/scaling-replay.json)"
    )
    replay.set_defaults(func=run)
    text = (
        'the local scaling loop of a reactive-mode Flink cluster ([flink] mode = "reactive"): every [scaling] '
        "period_s it reads the source's backlog and the busiest task's busy time from the stack's Prometheus and "
        "starts or stops TaskManagers by the HPA rule ([scaling] in infra/stack.toml); one JSON line per rescale"
    )
    loop = kinds.add_parser("run", help=text, description=text)
    loop.add_argument(
        "--duration-s", type=float, default=0.0, help="stop after this many seconds (default 0: until stopped)"
    )
    loop.set_defaults(func=run_loop)


def run(args: argparse.Namespace) -> None:
    from rtai import env_python

    from . import replay

    result = replay.replay(args.trace, args.capacity, args.rescale_s, args.period_s, args.out)
    for name, changes in result["replica_changes"].items():
        print(f"{name}: {result['summary'][name]}")
        print("  replicas from t (s): " + ", ".join(f"{t:.0f}: {r}" for t, r in changes))
    plot = args.out.with_suffix(".png")
    env_python.run("model", "-m", "rtai.scaling.replay_plot", str(args.out), str(plot))
    print(f"written to {args.out} and {plot}")


def run_loop(args: argparse.Namespace) -> None:
    from rtai.stack import config as stack_config

    from . import loop

    config = stack_config.load()
    if config.flink.mode != "reactive":
        raise UserFacingError('the scaling loop rescales a reactive cluster: set [flink] mode = "reactive"')
    loop.run(config, args.duration_s)
