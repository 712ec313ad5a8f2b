"""The project's four virtual environments, created with uv from exact lock files.

Their pins conflict (see ARCHITECTURE.md), so each is separate:
- flink: PyFlink 1.20.5, the jobs, the CLI and the tests (locked from pyproject.toml);
- feast: the Feast SDK, CLI and feature server;
- triton: the Triton server binary (nvidia-pytriton) and onnxruntime for its backend;
- model: training, ONNX export and the optimized variants (scikit-learn, skl2onnx, onnxruntime).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from rtai import paths
from rtai.bootstrap import stamp
from rtai.console import done, step
from rtai.gpu import gpu_problem

UV_VERSION = "0.13.8"
# The TensorRT Python package for CUDA 12, only where a CUDA GPU is (ensure_tensorrt).
TENSORRT = "tensorrt-cu12==10.16.1.11"
ENVIRONMENTS = ("flink", "feast", "triton", "model")
STAMP_NAME = ".rtai-lock.sha256"
# Installed with their bytecode: where PYTHONDONTWRITEBYTECODE is set (as on the machines this
# project is built and tested on), every start of Python would otherwise compile each module it
# imports again (a Feast apply took 14 s instead of 7), and the stack and the tests start Python often.
SYNC_OPTIONS = ("--compile-bytecode",)


def lock_file(env: str) -> Path:
    return paths.ENVS_DIR / f"{env}.lock"


def uv_executable() -> Path:
    """uv itself lives in a small tools environment, installed with pip at a pinned version."""
    tools = paths.VENVS_DIR / "tools"
    uv = tools / "bin" / "uv"
    expected = stamp.digest(UV_VERSION, sys.version)
    stamp_file = tools / STAMP_NAME
    if uv.is_file() and stamp.is_current(stamp_file, expected):
        return uv
    step(f"installing uv {UV_VERSION} into {tools}")
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(tools)], check=True)
    subprocess.run(
        [str(tools / "bin" / "python"), "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"],
        check=True,
    )
    stamp.write(stamp_file, expected)
    done("uv ready", started)
    return uv


def ensure_environment(env: str, uv: Path) -> bool:
    """Creates or syncs one environment; returns False when it was already current."""
    venv = paths.VENVS_DIR / env
    lock = lock_file(env)
    # The flink environment also holds the project itself: its pyproject.toml (packages, the
    # `rtai` entry point) counts too.
    project = (paths.PROJECT_ROOT / "pyproject.toml").read_bytes() if env == "flink" else b""
    expected = stamp.digest(lock.read_bytes(), project, sys.version, " ".join(SYNC_OPTIONS))
    stamp_file = venv / STAMP_NAME
    if stamp.is_current(stamp_file, expected):
        return False
    step(f"creating the {env} environment from {lock.relative_to(paths.PROJECT_ROOT)}")
    started = time.monotonic()
    if not (venv / "bin" / "python").is_file():
        subprocess.run([str(uv), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([str(uv), "pip", "sync", *SYNC_OPTIONS, "--python", python, str(lock)], check=True)
    if env == "flink":
        # The project itself, editable, so the CLI and the jobs run from this checkout.
        subprocess.run(
            [str(uv), "pip", "install", "--python", python, "--no-deps", "-e", str(paths.PROJECT_ROOT)],
            check=True,
        )
    stamp.write(stamp_file, expected)
    done(f"{env} environment ready", started)
    return True


def ensure_tensorrt(uv: Path) -> bool:
    """On a host with a CUDA GPU, TensorRT in the model environment (`rtai model tensorrt` builds
    engines with it); elsewhere nothing: its wheels are large and need the NVIDIA driver."""
    if gpu_problem() is not None:
        return False
    venv = paths.VENVS_DIR / "model"
    stamp_file = venv / ".rtai-tensorrt.sha256"
    # `uv pip sync` of a changed lock removes it again: the lock counts too.
    expected = stamp.digest(TENSORRT, lock_file("model").read_bytes(), sys.version)
    if stamp.is_current(stamp_file, expected):
        return False
    step(f"a CUDA GPU is present: installing {TENSORRT} into the model environment")
    started = time.monotonic()
    subprocess.run([str(uv), "pip", "install", "--python", str(venv / "bin" / "python"), TENSORRT], check=True)
    stamp.write(stamp_file, expected)
    done("TensorRT ready", started)
    return True


def ensure_all(envs: tuple[str, ...] = ENVIRONMENTS) -> None:
    uv = uv_executable()
    changed = [env for env in envs if ensure_environment(env, uv)]
    if "model" in envs and ensure_tensorrt(uv):
        changed.append("model")
    if not changed:
        step(f"environments up to date: {', '.join(envs)}")
