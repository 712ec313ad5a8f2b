"""Where the project keeps its files: one place, so nothing hard-codes a folder twice."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INFRA_DIR = PROJECT_ROOT / "infra"
ENVS_DIR = INFRA_DIR / "envs"
TRITON_REPO = PROJECT_ROOT / "triton_repo"
FEATURE_REPO = PROJECT_ROOT / "feature_repo"
DEFAULT_PIPELINE = PROJECT_ROOT / "pipelines" / "fraud.toml"
SECURE_PIPELINE = PROJECT_ROOT / "pipelines" / "fraud-secure.toml"  # against the stack's secure profile
EDGE_PIPELINE = PROJECT_ROOT / "pipelines" / "fraud-edge.toml"  # at an edge site (infra/edge/stack.toml)

# Ignored folders: virtual environments, downloads, and the running stack's state.
VENVS_DIR = Path(os.environ.get("RTAI_VENVS_DIR", PROJECT_ROOT / ".venvs"))
CACHE_DIR = Path(os.environ.get("RTAI_CACHE_DIR", PROJECT_ROOT / ".cache"))
RUN_DIR = Path(os.environ.get("RTAI_RUN_DIR", PROJECT_ROOT / ".run"))

MAVEN_REPO = CACHE_DIR / "m2"
JARS_DIR = CACHE_DIR / "jars"


def venv_python(env: str) -> Path:
    """The interpreter of one of the project's environments (flink, feast, triton)."""
    return VENVS_DIR / env / "bin" / "python"


def venv_bin(env: str, program: str) -> Path:
    return VENVS_DIR / env / "bin" / program


def flink_home() -> Path:
    """The Flink distribution inside the flink environment's PyFlink wheel (bin/, lib/, conf/)."""
    return VENVS_DIR / "flink" / "lib" / "python3.11" / "site-packages" / "pyflink"
