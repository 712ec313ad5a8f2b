"""`rtai model ...`: train the pipeline's model on its training set, in the model environment."""

from __future__ import annotations

import argparse
from pathlib import Path

from flink_jobs import paths, pipeline_config

MODELS_DIR = paths.RUN_DIR / "data" / "models"
DEFAULT_SEED = 42


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    model = subparsers.add_parser("model", help="train the pipeline's model and export it to ONNX")
    commands = model.add_subparsers(dest="model_command", required=True)
    text = "train on the training set (time-based holdout) and export to ONNX; prints ROC AUC, PR AUC, P/R"
    train = commands.add_parser("train", help=text, description=text)
    train.add_argument("--pipeline", type=Path, default=pipeline_config.DEFAULT_PIPELINE, help="pipeline config")
    train.add_argument("--training-set", type=Path, help="(default: the `rtai features training-set` output)")
    train.add_argument(
        "--out",
        type=Path,
        help=f"folder for model.onnx, report.json, sample.parquet (default {MODELS_DIR}/<model name>)",
    )
    train.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"(default {DEFAULT_SEED})")
    train.add_argument("--holdout-days", type=float, default=5.0, help="the last days, held out (default 5)")
    model.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from flink_jobs import env_python
    from flink_jobs.errors import UserFacingError
    from flink_jobs.features.commands import DEFAULT_TRAINING_DIR

    config = pipeline_config.load(args.pipeline)
    training_set = args.training_set or DEFAULT_TRAINING_DIR / f"{config.features.service}.parquet"
    if not training_set.is_file():
        raise UserFacingError(f"no training set at {training_set}: build one with `make training-set`")
    out = args.out or MODELS_DIR / config.model.name
    env_python.run(
        "model",
        *("-m", "flink_jobs.models.train", "--training-set", str(training_set.resolve()), "--out", str(out.resolve())),
        *("--seed", str(args.seed), "--holdout-days", str(args.holdout_days)),
        *("--threshold", str(config.model.alert_threshold)),
    )
