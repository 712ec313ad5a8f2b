"""Runs Python in one of the project's other environments (feast, model) on this checkout's code."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import IO

from flink_jobs.errors import UserFacingError
from rtai import paths
from rtai.errors import PrerequisiteError


def run(
    env: str,
    *args: str,
    cwd: Path = paths.PROJECT_ROOT,
    extra_env: dict[str, str] | None = None,
    stdout: IO[str] | None = None,
) -> None:
    """`python ARGS` in environment `env`, with the project importable; fails with its exit code."""
    python = paths.venv_python(env)
    if not python.is_file():
        raise PrerequisiteError(f"the {env} environment is missing ({python}): run the set-up first (`make setup`)")
    # PYTHONPATH: the project's modules for that environment (python -m flink_jobs...) import from the checkout.
    environment = {**os.environ, **(extra_env or {}), "PYTHONPATH": str(paths.PROJECT_ROOT)}
    result = subprocess.run([str(python), *args], cwd=cwd, env=environment, stdout=stdout)
    if result.returncode != 0:
        raise UserFacingError(f"{' '.join(args[:2])} failed (exit {result.returncode}) in the {env} environment")
