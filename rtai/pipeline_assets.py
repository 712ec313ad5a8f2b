"""What a pipeline run needs before its jobs start: the stack up, features in Feast, a served model.

Each step is the function behind its `rtai` command, skipped when its result is already there: a
history, the batch tables, a registered model. `feast apply` and `materialize-incremental` always
run; they are cheap when nothing changed.
"""

from __future__ import annotations

from flink_jobs.config import pipeline_config
from flink_jobs.stages.features import history_seed
from rtai.console import step
from rtai.features import backfill
from rtai.features import commands as features
from rtai.generator import commands as generator
from rtai.models import commands as model
from rtai.models import repository as models
from rtai.models import triton_config
from rtai.models.triton_access import TritonAccess
from rtai.stack import config as stack_config
from rtai.stack import lifecycle
from rtai.stack.feast_repo import FeastRepo


def ensure(config: pipeline_config.PipelineConfig) -> None:
    """Starts the stack; makes the features and registers the model when they are missing."""
    stack = stack_config.load()
    lifecycle.up(stack)
    if not generator.DEFAULT_HISTORY.is_file():
        generator.write_history()
    repo = FeastRepo.of_stack(stack)
    if not all((repo.path / name).is_file() for name in (backfill.CARD_STATS_FILE, history_seed.SEED_FILE)):
        features.backfill(repo)
    print(repo.apply(), end="")
    features.materialize(repo)
    repository = stack.triton.repository_path()
    triton = TritonAccess.of_stack(stack)
    if triton_config.versions(repository / config.model.name):
        step(f"model {config.model.name} is registered in {repository}")
        # Served too: a Triton started before the registration (or one whose load failed) has not loaded it.
        models.load_if_running(repository, config.model.name, triton)
        return
    if not (model.MODELS_DIR / config.model.name / "model.onnx").is_file():
        features.write_training_set(repo, config.features)
        model.train(config)
    model.register(config, repository.resolve(), triton)
