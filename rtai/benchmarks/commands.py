"""`rtai bench ...`: benchmark scripts; each prints its figures and writes them to bench/results/."""

from __future__ import annotations

import argparse
from pathlib import Path

from flink_jobs.config import pipeline_config
from flink_jobs.errors import UserFacingError
from rtai import paths
from rtai.arg_types import positive


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks on the running stack; results in bench/results/")
    kinds = bench.add_subparsers(dest="bench_command", required=True)
    text = (
        "feature job: freshness (publish -> visible in Feast) at a fixed rate, its maximum sustained rate "
        "with each process's CPU per event, per writer (feature-server, redis: Redis and a feature server on "
        "the Redis profile started for it when the stack serves SQLite), and Feast's own write cost per row"
    )
    features = kinds.add_parser("features", help=text, description=text)
    features.add_argument("--pipeline", type=Path, default=paths.DEFAULT_PIPELINE, help="pipeline config")
    features.add_argument("--rate", type=float, default=1000.0, help="events per second (default 1000)")
    features.add_argument("--duration-s", type=float, default=60.0, help="seconds of measured publishing (default 60)")
    features.add_argument(
        "--drain-events",
        type=positive(int),
        help="backlog for the maximum-rate phase (default: 250,000 for feature-server, 1,200,000 for redis)",
    )
    features.add_argument(
        "--writer",
        nargs="+",
        choices=pipeline_config.PUSH_WRITERS,
        help="the push writers measured, interleaved (default: the pipeline's [feature_job.push] writer)",
    )
    features.add_argument(
        "--repeats", type=positive(int), default=1, help="rounds of every writer, interleaved (default 1)"
    )
    text = "the served model: Triton's perf_analyzer at several concurrencies, and the onnxruntime ceiling"
    model = kinds.add_parser("model", help=text, description=text)
    model.add_argument("--pipeline", type=Path, default=paths.DEFAULT_PIPELINE, help="its [model] name")
    model.add_argument("--batch", type=int, default=256, help="rows per request (default 256)")
    model.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8], help="(default 1 2 4 8)")
    text = "a card's state update (decode, add, encode) against the number of transactions in its windows"
    card_state = kinds.add_parser("card-state", help=text, description=text)
    card_state.add_argument(
        "--lengths", type=int, nargs="+", default=[1, 10, 100, 1000, 10000], help="transactions in the windows"
    )
    card_state.add_argument("--updates", type=int, default=2000, help="updates per round (default 2000)")
    card_state.add_argument(
        "--repeats", type=positive(int), default=5, help="rounds; the median is reported (default 5)"
    )
    text = (
        "the inference job's designs (python and java batching, the model on Triton or in process) compared: "
        "each drains a backlog and runs at a fixed rate, --repeats times interleaved; medians and spreads in "
        "bench/results/<date>-<host>-<kind>.json (the kind --compare names)"
    )
    designs = kinds.add_parser("designs", help=text, description=text)
    designs.add_argument(
        "--compare",
        choices=[
            "batching",
            "card-windows",
            "drain",
            "batch-views",
            "model-inputs",
            "serving-threads",
            "scoring-task",
            "batch-flush",
            "latency",
            "batch-start",
            "jvm-gc",
            "switch-interval",
            "parse",
            "held",
        ],
        default="batching",
        help="batching: where batches form and where the model runs (default); card-windows: the java design's "
        "card windows in the JVM against in a Python call per key group's batch; drain: the scoring operator "
        "asked to finish its batches in flight 3 ms after the last flush against max_wait_ms; batch-views: the "
        "pipeline's cached views loaded from their keys_file at start against loaded on a miss; model-inputs: "
        "the served model's one matrix input against the same weights taking one input per column; "
        "serving-threads: the served model's intra_op_thread_count ([model.serving]) against onnxruntime's own "
        "thread count; scoring-task: the scoring call on the card windows' thread against a task of its own; "
        "batch-flush: "
        "the JVM batcher's flush also when the input is idle against after max_wait_ms only; latency: the "
        "source's fetch time and the network buffer timeout at 10/5, 2/5 and 2/1 ms; batch-start: a scoring batch "
        "per flush (2 in flight, 10 ms fetches) against batches coalesced while one is under way (fetches ended "
        "by 1 ms without a message); jvm-gc: the local job JVM's garbage collector, ZGC against G1; "
        "switch-interval: the job's Python threads handing over the interpreter lock after 5 ms (CPython's "
        "default) against 1 ms; parse: the transactions parsed in one Python call per fetch against in the JVM "
        "(the Python parse left only the messages the JVM does not vouch for); held: a flush's rows held while the "
        "scoring loop has no room by the Python scoring operator (a call per flush) against by the JVM (a call "
        "when there is room, and one every poll_ms for the batches done)",
    )
    text = (
        "a shadow version's cost: the inference job without and with [model.shadow] (a copy of the served model), "
        "each draining a backlog and at a fixed rate, --repeats times interleaved; "
        "bench/results/<date>-<host>-shadow.json"
    )
    shadow = kinds.add_parser("shadow", help=text, description=text)
    for command in (designs, shadow):
        command.add_argument("--pipeline", type=Path, default=paths.DEFAULT_PIPELINE, help="pipeline config")
        command.add_argument("--repeats", type=positive(int), default=3, help="runs of each design (default 3)")
        command.add_argument("--backlog", type=int, default=60_000, help="events drained per run (default 60,000)")
        command.add_argument("--rate", type=float, default=1000.0, help="the fixed rate, events/s (default 1000)")
        command.add_argument("--measure-s", type=float, default=30.0, help="measured seconds at it (default 30)")
    text = (
        "the scoring API (rtai serve) under an open-loop load at each --rates: answered/s, p50/p99/p999 and the "
        "maximum sustained rate; bench/results/<date>-<host>-api.json"
    )
    api = kinds.add_parser("api", help=text, description=text)
    api.add_argument("--pipeline", type=Path, default=paths.DEFAULT_PIPELINE, help="pipeline config")
    api.add_argument(
        "--rates", type=float, nargs="+", default=[100, 250, 500, 1000, 2000], help="requests/s (default 100 ... 2000)"
    )
    api.add_argument("--measure-s", type=float, default=20.0, help="measured seconds per rate (default 20)")
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
    # Each backlog gives its contender a measured window (20-90 % of it) of at least 30 s at its rate here.
    everything.add_argument("--job-backlog", type=int, default=500_000, help="events drained by the job (500,000)")
    everything.add_argument(
        "--floor-backlog", type=int, default=1_200_000, help="drained by the floor, the parse relay (1,200,000)"
    )
    everything.add_argument(
        "--peer-backlog", type=int, default=300_000, help="drained by the asyncio consumer (300,000)"
    )
    everything.add_argument("--baseline-backlog", type=int, default=6_000, help="drained by the baseline (6,000)")
    everything.add_argument(
        "--feature-backlog",
        type=int,
        default=250_000,
        help="drained by the feature job writing through the feature server (250,000)",
    )
    everything.add_argument(
        "--redis-writer-backlog",
        type=int,
        default=1_200_000,
        help="drained by the feature job writing Feast's Redis online store itself (1,200,000)",
    )
    everything.add_argument(
        "--repeats",
        type=positive(int),
        default=3,
        help="interleaved runs of the job, its floor and the asyncio peer (3)",
    )
    bench.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from rtai.monitoring import process_metrics
    from rtai.stack import config as stack_config

    if stack_config.load().secure:
        # Each run makes fresh topics and subscriptions, as the superuser would: measured in the open profile.
        raise UserFacingError("the benchmarks run on the stack's open profile; this one is secure (docs/security.md)")
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
            floor_backlog=args.floor_backlog,
            peer_backlog=args.peer_backlog,
            baseline_backlog=args.baseline_backlog,
            feature_backlogs={"feature-server": args.feature_backlog, "redis": args.redis_writer_backlog},
            repeats=args.repeats,
        )
        return
    if args.bench_command == "api":
        from rtai.benchmarks import scoring_api

        scoring_api.run(args.pipeline, rates=args.rates, measure_s=args.measure_s)
        return
    if args.bench_command == "card-state":
        from rtai.benchmarks import card_state

        card_state.run(args.lengths, args.updates, args.repeats)
        return
    if args.bench_command in ("designs", "shadow"):
        from rtai.benchmarks import designs, shadow_cost

        settings = {"repeats": args.repeats, "backlog": args.backlog, "rate": args.rate, "measure_s": args.measure_s}
        if args.bench_command == "shadow":
            shadow_cost.run(args.pipeline, **settings)
        elif args.compare == "model-inputs":
            from rtai.benchmarks import model_layouts

            model_layouts.run(args.pipeline, **settings)
        elif args.compare == "serving-threads":
            from rtai.benchmarks import model_layouts

            model_layouts.run_threads(args.pipeline, **settings)
        elif args.compare == "batch-views":
            designs.run(
                args.pipeline, designs=designs.batch_view_designs(args.pipeline), kind="batch-views", **settings
            )
        else:
            designs.run(args.pipeline, designs=designs.COMPARISONS[args.compare], kind=args.compare, **settings)
        return
    if args.bench_command == "features":
        from rtai.benchmarks import feature_job

        writers = args.writer or [pipeline_config.load(args.pipeline).feature_job.push.writer]
        feature_job.run(
            args.pipeline,
            writers=writers,
            repeats=args.repeats,
            rate=args.rate,
            duration_s=args.duration_s,
            drain_events=args.drain_events,
        )
        return
    from rtai.benchmarks import model
    from rtai.stack import config as stack_config

    stack = stack_config.load()
    name = pipeline_config.load(args.pipeline).model.name
    model.run(
        name, stack.triton.repository_path(), stack.triton_grpc_url, batch=args.batch, concurrencies=args.concurrency
    )
