"""The Feast CLI flow on a feature repository, run from the feast environment."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from flink_jobs import paths
from flink_jobs.console import done, step
from flink_jobs.errors import PrerequisiteError, UserFacingError

INIT_PUSH_FILES = paths.INFRA_DIR / "feast" / "init_push_files.py"


def feast_cli() -> str:
    feast = paths.venv_bin("feast", "feast")
    if not feast.is_file():
        raise PrerequisiteError(f"feast CLI not found at {feast}: run the set-up first (`make setup`)")
    return str(feast)


def run(repo: Path, *args: str) -> str:
    """`feast ARGS` in `repo`; its output, or an error carrying its last line."""
    step(f"feast {' '.join(args)} ({repo})")
    started = time.monotonic()
    result = subprocess.run([feast_cli(), *args], cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserFacingError(f"feast {' '.join(args)} failed in {repo}: {last}")
    done(f"feast {args[0]} finished", started)
    return result.stdout


def apply(repo: Path) -> str:
    """`feast apply`, then the empty offline files that pushes to the offline store append to."""
    output = run(repo, "apply")
    subprocess.run([str(paths.venv_python("feast")), str(INIT_PUSH_FILES), str(repo)], check=True)
    return output
