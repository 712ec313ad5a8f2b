"""The code is ruff-clean (the project's style rules in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys

from rtai import paths


def test_ruff_check_and_format_pass():
    ruff = [sys.executable, "-m", "ruff"]
    targets = ["flink_jobs", "rtai", "tests", "infra", "feature_repo"]
    check = subprocess.run([*ruff, "check", *targets], cwd=paths.PROJECT_ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    fmt = subprocess.run([*ruff, "format", "--check", *targets], cwd=paths.PROJECT_ROOT, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout
