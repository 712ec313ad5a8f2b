"""The Feast CLI flow on a feature repository, run from the feast environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from flink_jobs.errors import UserFacingError
from rtai import env_python, paths
from rtai.console import done, step
from rtai.errors import PrerequisiteError
from rtai.stack import secure_profile
from rtai.stack.config import StackConfig

APPLY_REPO = paths.INFRA_DIR / "feast" / "apply_repo.py"


def copy_of_definitions(folder: Path) -> Path:
    """The project's feature repository, definitions only (no generated data), as folder/feature_repo."""
    repo = folder / "feature_repo"
    shutil.copytree(paths.FEATURE_REPO, repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    return repo


def feast_cli() -> str:
    feast = paths.venv_bin("feast", "feast")
    if not feast.is_file():
        raise PrerequisiteError(f"feast CLI not found at {feast}: run the set-up first (`make setup`)")
    return str(feast)


@dataclass(frozen=True)
class FeastRepo:
    """A feature repository with the profile (feature_store.yaml) and environment the stack uses."""

    path: Path
    feature_store_yaml: Path
    env: dict[str, str]

    @classmethod
    def of_stack(cls, config: StackConfig) -> FeastRepo:
        return cls(
            config.feast.repo_path(),
            config.feast.feature_store_yaml(),
            {"REDIS_CONNECTION_STRING": secure_profile.redis_connection_string(config)},
        )

    def run(self, *args: str) -> str:
        """`feast -f <profile> ARGS` in the repository; its output, or an error carrying its last line."""
        return self._feast(" ".join(args), [feast_cli(), "-f", str(self.feature_store_yaml), *args])

    def apply(self) -> str:
        """`feast apply`, then the empty offline files that pushes to the offline store append to
        (one process: apply_repo.py)."""
        feast_cli()  # the feast environment is there, or a clear error naming the set-up step
        python = paths.venv_python("feast")
        return self._feast("apply", [str(python), str(APPLY_REPO), str(self.path), str(self.feature_store_yaml)])

    def _feast(self, what: str, command: list[str]) -> str:
        step(f"feast {what} ({self.path}, {self.feature_store_yaml.name})")
        started = time.monotonic()
        result = subprocess.run(command, cwd=self.path, env={**os.environ, **self.env}, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserFacingError(f"feast {what} failed in {self.path}: {last}")
        done(f"feast {what.split()[0]} finished", started)
        return result.stdout

    def python(self, *args: str) -> None:
        """The feast environment's Python with ARGS, on this repository; fails with its exit code."""
        env_python.run("feast", *args, cwd=self.path, extra_env=self.env)
