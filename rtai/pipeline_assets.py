"""What a pipeline run needs before its jobs start: the stack up, features in Feast, a served model.

Each step is a CLI command in a child process (its progress on this terminal), skipped when
its result is already there: a history, the batch tables, a registered model. `feast apply`
and `materialize-incremental` always run; they are cheap when nothing changed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flink_jobs.config import pipeline_config
from flink_jobs.errors import UserFacingError
from rtai import paths
from rtai.console import step
from rtai.generator.cli import DEFAULT_HISTORY
from rtai.models import repository as models
from rtai.models import triton_config
from rtai.models.triton_access import TritonAccess
from rtai.stack import config as stack_config


def rtai(*args: str) -> None:
    """A CLI step in a child process, its progress on this terminal; a failure stops the caller."""
    if subprocess.run([sys.executable, "-m", "rtai", *args], cwd=paths.PROJECT_ROOT).returncode != 0:
        raise UserFacingError(f"`rtai {' '.join(args)}` failed (see above)")


def ensure(config: pipeline_config.PipelineConfig, pipeline: Path) -> None:
    """Starts the stack; makes the features and registers the model when they are missing."""
    rtai("stack", "up")
    if not DEFAULT_HISTORY.is_file():
        rtai("generate", "history")
    if not (paths.FEATURE_REPO / "data" / "card_stats.parquet").is_file():
        rtai("features", "backfill")
    rtai("features", "apply")
    rtai("features", "materialize")
    stack = stack_config.load()
    repository = stack.triton.repository_path()
    if triton_config.versions(repository / config.model.name):
        step(f"model {config.model.name} is registered in {repository}")
        # Served too: a Triton started before the registration (or one whose load failed) has not loaded it.
        models.load_if_running(repository, config.model.name, TritonAccess.of_stack(stack))
        return
    model_dir = paths.RUN_DIR / "data" / "models" / config.model.name
    if not (model_dir / "model.onnx").is_file():
        rtai("features", "training-set", "--pipeline", str(pipeline))
        rtai("model", "train", "--pipeline", str(pipeline))
    rtai("model", "register", "--pipeline", str(pipeline))
