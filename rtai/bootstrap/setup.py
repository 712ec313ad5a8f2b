"""`rtai setup` / `make setup`: everything the project needs, installed once, checked every time."""

from __future__ import annotations

import os
import shutil
import subprocess

from rtai.bootstrap import java_artifacts, prereqs, venvs
from rtai.console import step
from rtai.errors import PrerequisiteError


def install_redis() -> None:
    if shutil.which("redis-server"):
        return
    if os.geteuid() != 0:
        raise PrerequisiteError("redis-server not found: install it with `sudo apt-get install redis-server`")
    step("installing redis-server with apt-get")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], check=True)


def run(*, with_redis: bool = False) -> None:
    prereqs.check_all()
    venvs.ensure_all()
    java_artifacts.ensure_all()
    if with_redis:
        install_redis()
