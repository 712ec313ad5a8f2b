"""`rtai bench ...`: benchmark scripts; each prints its figures and writes them to bench/results/."""

from __future__ import annotations

import argparse
from pathlib import Path

from flink_jobs.config import pipeline_config
from flink_jobs.errors import UserFacingError
from rtai import paths


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks on the running stack; results in bench/results/")
    kinds = bench.add_subparsers(dest="bench_command", required=True)
    text = "feature job: freshness (publish -> visible in Feast) at a fixed rate, and its maximum sustained rate"
    features = kinds.add_parser("features", help=text, description=text)
    features.add_argument("--pipeline", type=Path, default=paths.DEFAULT_PIPELINE, help="pipeline config")
    features.add_argument("--rate", type=float, default=1000.0, help="events per second (default 1000)")
    features.add_argument("--duration-s", type=float, default=60.0, help="seconds of measured publishing (default 60)")
    features.add_argument(
        "--drain-events", type=int, default=200_000, help="backlog for the maximum-rate phase (default 200,000)"
    )
    text = "the served model: Triton's perf_analyzer at several concurrencies, and the onnxruntime ceiling"
    model = kinds.add_parser("model", help=text, description=text)
    model.add_argument("--pipeline", type=Path, default=paths.DEFAULT_PIPELINE, help="its [model] name")
    model.add_argument("--batch", type=int, default=256, help="rows per request (default 256)")
    model.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8], help="(default 1 2 4 8)")
    text = (
        "everything in one run (make bench): the inference job, its floor (the parse relay) and its peers (the "
        "asyncio consumer, the naive baseline) end to end with CPU seconds per process, the serving ceiling, the "
        "feature job's maximum and freshness; results in bench/results/<date>-<host>.json/.png and a row in "
        "bench/README.md"
    )
    everything = kinds.add_parser("all", help=text, description=text)
    everything.add_argument("--pipeline", type=Path, default=paths.DEFAULT_PIPELINE, help="pipeline config")
    everything.add_argument(
        "--rates", type=float, nargs="+", default=[500, 1000, 2000, 5000], help="the job's fixed rates, events/s"
    )
    everything.add_argument("--measure-s", type=float, default=30.0, help="measured seconds per rate (default 30)")
    everything.add_argument("--job-backlog", type=int, default=100_000, help="events drained by the job (100,000)")
    everything.add_argument("--peer-backlog", type=int, default=30_000, help="drained by the asyncio consumer (30,000)")
    everything.add_argument("--baseline-backlog", type=int, default=3_000, help="drained by the baseline (3,000)")
    everything.add_argument("--feature-backlog", type=int, default=100_000, help="drained by the feature job")
    bench.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from rtai.monitoring import process_metrics
    from rtai.stack import config as stack_config

    if stack_config.load().secure:
        # Each run makes fresh topics and subscriptions, as the superuser would: measured in the open profile.
        raise UserFacingError("the benchmarks run on the stack's open profile; this one is secure (README: Security)")
    with process_metrics.serving(f"bench-{args.bench_command}"):
        _run(args)


def _run(args: argparse.Namespace) -> None:
    if args.bench_command == "all":
        from rtai.benchmarks import end_to_end

        end_to_end.run(
            args.pipeline,
            rates=args.rates,
            measure_s=args.measure_s,
            job_backlog=args.job_backlog,
            peer_backlog=args.peer_backlog,
            baseline_backlog=args.baseline_backlog,
            feature_backlog=args.feature_backlog,
        )
        return
    if args.bench_command == "features":
        from rtai.benchmarks import feature_job

        feature_job.run(args.pipeline, rate=args.rate, duration_s=args.duration_s, drain_events=args.drain_events)
        return
    from rtai.benchmarks import model
    from rtai.stack import config as stack_config

    stack = stack_config.load()
    name = pipeline_config.load(args.pipeline).model.name
    model.run(
        name, stack.triton.repository_path(), stack.triton_grpc_url, batch=args.batch, concurrencies=args.concurrency
    )
