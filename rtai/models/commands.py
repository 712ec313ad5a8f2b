"""`rtai model ...`: train the pipeline's model, register it in the Triton repository, and choose
which version serves."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from flink_jobs.config import pipeline_config
from rtai import paths

if TYPE_CHECKING:
    from rtai.models.triton_access import TritonAccess

MODELS_DIR = paths.RUN_DIR / "data" / "models"
DEFAULT_SEED = 42
DEFAULT_HOLDOUT_DAYS = 5.0


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    model = subparsers.add_parser("model", help="train, register, list, promote and roll back models")
    commands = model.add_subparsers(dest="model_command", required=True)
    text = "train on the training set (time-based holdout) and export to ONNX; prints ROC AUC, PR AUC, P/R"
    train = commands.add_parser("train", help=text, description=text)
    train.add_argument("--pipeline", type=Path, default=paths.DEFAULT_PIPELINE, help="pipeline config")
    train.add_argument("--training-set", type=Path, help="(default: the `rtai features training-set` output)")
    train.add_argument(
        "--out",
        type=Path,
        help=f"folder for model.onnx, report.json, sample.parquet (default {MODELS_DIR}/<model name>)",
    )
    train.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"(default {DEFAULT_SEED})")
    train.add_argument(
        "--holdout-days",
        type=float,
        default=DEFAULT_HOLDOUT_DAYS,
        help=f"the last days, held out (default {DEFAULT_HOLDOUT_DAYS:g})",
    )

    text = "add a model file as the next version in the Triton repository, with a generated config.pbtxt"
    register = commands.add_parser("register", help=text, description=text)
    register.add_argument("--pipeline", type=Path, default=paths.DEFAULT_PIPELINE, help="pipeline config")
    register.add_argument("--model", type=Path, help="model.onnx or model.plan (default: the trained model)")
    register.add_argument("--kind", choices=("onnx", "tensorrt_plan"), default="onnx", help="(default onnx)")
    register.add_argument("--signature-from", type=Path, help="for a TensorRT engine: the ONNX it was built from")
    register.add_argument("--name", help="model name (default: [model] name of the pipeline)")
    register.add_argument("--repository", type=Path, help="(default: the stack's Triton repository)")
    register.add_argument("--serve", action="store_true", help="serve the new version at once (a new model always)")

    text = "ONNX Runtime-optimized, INT8 and FP16 variants, each checked against FP32; a table of size, latency, AUC"
    optimize = commands.add_parser("optimize", help=text, description=text)
    text = "a TensorRT engine (model.plan) from the trained model; needs a CUDA GPU"
    trt = commands.add_parser("tensorrt", help=text, description=text)
    trt.add_argument("--precision", choices=("fp16", "int8"), default="fp16", help="(default fp16)")
    for command in (optimize, trt):
        command.add_argument("--pipeline", type=Path, default=paths.DEFAULT_PIPELINE, help="pipeline config")
        command.add_argument("--model-dir", type=Path, help=f"(default {MODELS_DIR}/<model name>)")

    listing = commands.add_parser("list", help="models and versions: on disk, served by config, ready in Triton")
    listing.add_argument("--repository", type=Path, help="(default: the stack's Triton repository)")

    text = "check a version: config parses, shapes match the model, Triton loads it and agrees with onnxruntime"
    validate = commands.add_parser("validate", help=text, description=text)
    validate.add_argument("version", type=int)
    validate.add_argument("--tolerance", type=float, default=1e-5, help="max abs difference (default 1e-5)")

    promote = commands.add_parser("promote", help="serve VERSION: edit the version policy and reload in Triton")
    promote.add_argument("version", type=int)
    rollback = commands.add_parser("rollback", help="serve the highest version below the served one")
    text = "an in-stream canary: serve a candidate version beside the champion, judge it, promote or roll it back"
    canary = commands.add_parser("canary", help=text, description=text)
    canary_commands = canary.add_subparsers(dest="canary_command", required=True)
    text = "serve VERSION beside the served one; the inference job sends [model.canary] share of the cards to it"
    canary_start = canary_commands.add_parser("start", help=text, description=text)
    canary_start.add_argument("version", type=int)
    text = "judge the running canary on the predictions topic by [model.canary]'s rules; promote or roll it back"
    canary_watch = canary_commands.add_parser("watch", help=text, description=text)
    canary_watch.add_argument("--subscription", default="canary-watch", help="(default canary-watch)")
    canary_watch.add_argument("--until-verdict", action="store_true", help="exit after the first verdict")
    canary_watch.add_argument("--timeout-s", type=float, help="give up after this long (exit status 3)")
    text = "shadow scoring: a version scoring every event beside the champion, to its own topic and metrics"
    shadow = commands.add_parser("shadow", help=text, description=text)
    shadow_commands = shadow.add_subparsers(dest="shadow_command", required=True)
    shadow_start = shadow_commands.add_parser("start", help="serve [model.shadow] version beside the served ones")
    shadow_stop = shadow_commands.add_parser("stop", help="stop serving [model.shadow] version")
    for command in (validate, promote, rollback, canary_start, canary_watch, shadow_start, shadow_stop):
        command.add_argument("--pipeline", type=Path, default=paths.DEFAULT_PIPELINE, help="pipeline config")
        command.add_argument("--name", help="model name (default: [model] name of the pipeline)")
        command.add_argument("--repository", type=Path, help="(default: the stack's Triton repository)")
    model.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from rtai.models.triton_access import TritonAccess
    from rtai.stack import config as stack_config

    stack = stack_config.load()
    repository = (getattr(args, "repository", None) or stack.triton.repository_path()).resolve()
    if args.model_command == "train":
        _train(args)
    elif args.model_command == "register":
        config, triton = pipeline_config.load(args.pipeline), TritonAccess.of_stack(stack)
        register(config, repository, triton, args.model, args.kind, args.name, args.signature_from, args.serve)
    elif args.model_command in ("optimize", "tensorrt"):
        _optimize(args)
    elif args.model_command == "list":
        from rtai.models import repository as models

        for entry in models.list_models(repository, TritonAccess.of_stack(stack)):
            print(f"{entry.name}: versions {entry.on_disk}, served {entry.served}, ready in Triton {entry.ready}")
    else:
        from rtai.models import repository as models

        name = args.name or pipeline_config.load(args.pipeline).model.name
        if args.model_command == "validate":
            from rtai.models.validate import validate

            worst = validate(repository, name, args.version, TritonAccess.of_stack(stack), args.tolerance)
            print(f"{name} version {args.version}: valid; Triton and onnxruntime differ by at most {worst:.2e}")
        elif args.model_command == "canary":
            _canary(args, repository, name, TritonAccess.of_stack(stack))
        elif args.model_command == "shadow":
            _shadow(args, repository, name, TritonAccess.of_stack(stack))
        elif args.model_command == "promote":
            models.promote(repository, name, args.version, TritonAccess.of_stack(stack))
            print(f"{name}: serving version {args.version}")
        else:
            version = models.rollback(repository, name, TritonAccess.of_stack(stack))
            print(f"{name}: rolled back to version {version}")


def _canary(args: argparse.Namespace, repository: Path, name: str, triton) -> None:
    from flink_jobs.errors import UserFacingError
    from rtai.models import repository as models

    config = pipeline_config.load(args.pipeline)
    if args.canary_command == "start":
        if args.version != config.model.canary.candidate_version:
            raise UserFacingError(
                f"{args.pipeline} [model.canary] candidate_version is {config.model.canary.candidate_version}, "
                f"not {args.version}: the inference job routes only to the configured candidate"
            )
        now = models.served(repository, name)
        if len(now) != 1:
            raise UserFacingError(f"{name} serves versions {now}: a canary starts from one served version")
        models.serve_beside(repository, name, args.version, "candidate", triton)
        share = config.model.canary.share
        print(f"{name}: serving version {now[0]} (champion) and {args.version} (candidate, {share:.0%} of the cards)")
        return
    import sys

    from rtai.models import canary_watch

    if not config.model.canary.candidate_version:
        raise UserFacingError(f"{args.pipeline} has no [model.canary] candidate_version: nothing to watch")
    verdict = canary_watch.run(config, repository, triton, args.subscription, args.until_verdict, args.timeout_s)
    if args.until_verdict and verdict is None:
        version = config.model.canary.candidate_version
        print(f"no verdict on {name} version {version} before the timeout", file=sys.stderr)
        sys.exit(3)


def _shadow(args: argparse.Namespace, repository: Path, name: str, triton) -> None:
    from flink_jobs.errors import UserFacingError
    from rtai.models import repository as models

    version = pipeline_config.load(args.pipeline).model.shadow.version
    if not version:
        raise UserFacingError(f"{args.pipeline} has no [model.shadow] version")
    if args.shadow_command == "start":
        champions = models.serve_beside(repository, name, version, "shadow", triton)
        print(f"{name}: version {version} scores every event beside {champions} (shadow scores only)")
    else:
        kept = models.stop_serving(repository, name, version, triton)
        print(f"{name}: version {version} no longer served; serving {kept}")


def _optimize(args: argparse.Namespace) -> None:
    from flink_jobs.errors import UserFacingError
    from rtai import env_python

    config = pipeline_config.load(args.pipeline)
    model_dir = (args.model_dir or MODELS_DIR / config.model.name).resolve()
    if not (model_dir / "model.onnx").is_file():
        raise UserFacingError(f"no trained model in {model_dir}: train one with `rtai model train`")
    if args.model_command == "optimize":
        env_python.run("model", "-m", "rtai.models.optimize", "--model-dir", str(model_dir))
        return
    from rtai.gpu import gpu_problem

    problem = gpu_problem()  # checked here too, so the user gets its one line and nothing else
    if problem:
        raise UserFacingError(f"TensorRT engine not built: {problem}")
    command = ["-m", "rtai.models.tensorrt", "--model-dir", str(model_dir), "--precision", args.precision]
    command += ["--max-batch-size", str(config.model.serving.max_batch_size)]
    env_python.run("model", *command)


def register(
    config: pipeline_config.PipelineConfig,
    repository: Path,
    triton: TritonAccess,
    model: Path | None = None,
    kind: str = "onnx",
    name: str | None = None,
    signature_from: Path | None = None,
    serve: bool = False,
) -> None:
    """`rtai model register`: the model file as the next version in the Triton repository, with a
    config.pbtxt from the pipeline's [model.serving]; loaded at once by a running Triton that
    serves the model already."""
    from flink_jobs.errors import UserFacingError
    from rtai.models import repository as models
    from rtai.models.register import register_version
    from rtai.models.triton_config import Serving

    model = (model or MODELS_DIR / config.model.name / "model.onnx").resolve()
    if not model.is_file():
        raise UserFacingError(f"no model file at {model}: train one with `rtai model train`")
    if kind == "tensorrt_plan" and signature_from is None:
        raise UserFacingError("--kind tensorrt_plan needs --signature-from model.onnx (an engine has no ONNX graph)")
    name = name or config.model.name
    serving = Serving.of(config.model.serving)
    source = signature_from.resolve() if signature_from else None
    version, served = register_version(model, kind, repository, name, serving, signature_from=source, serve=serve)
    print(f"registered {name} version {version} in {repository}; serving version {served}")
    if models.load_if_running(repository, name, triton):
        print(f"{name}: loaded by the running Triton at {triton.url}")


def _train(args: argparse.Namespace) -> None:
    train(pipeline_config.load(args.pipeline), args.training_set, args.out, args.seed, args.holdout_days)


def train(
    config: pipeline_config.PipelineConfig,
    training_set: Path | None = None,
    out: Path | None = None,
    seed: int = DEFAULT_SEED,
    holdout_days: float = DEFAULT_HOLDOUT_DAYS,
) -> None:
    """`rtai model train`: trains on the training set (a time-based holdout) in the model
    environment and exports model.onnx, its report and a sample to `out`."""
    from flink_jobs.errors import UserFacingError
    from rtai import env_python
    from rtai.features.commands import DEFAULT_TRAINING_DIR

    training_set = training_set or DEFAULT_TRAINING_DIR / f"{config.features.service}.parquet"
    if not training_set.is_file():
        raise UserFacingError(f"no training set at {training_set}: build one with `make training-set`")
    out = out or MODELS_DIR / config.model.name
    env_python.run(
        "model",
        *("-m", "rtai.models.train", "--training-set", str(training_set.resolve()), "--out", str(out.resolve())),
        *("--seed", str(seed), "--holdout-days", str(holdout_days)),
        *("--threshold", str(config.model.alert_threshold)),
    )
