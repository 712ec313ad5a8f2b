"""`rtai serve`: the scoring API (rtai/serving/)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rtai import paths


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    text = (
        "the scoring API: POST /v1/score answers a transaction within [scoring_api] deadline_ms with the stream's "
        "features and model, and sends it into the stream"
    )
    serve = subparsers.add_parser("serve", help=text, description=text)
    serve.add_argument("--pipeline", type=Path, default=paths.DEFAULT_PIPELINE, help="pipeline config")
    serve.add_argument("--host", help="(default: [scoring_api] host)")
    serve.add_argument("--port", type=int, help="(default: [scoring_api] port)")
    serve.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> None:
    from flink_jobs.config import pipeline_config
    from rtai.serving import server

    config = pipeline_config.load(args.pipeline)
    server.serve(config, args.host or config.scoring_api.host, args.port or config.scoring_api.port)
