"""Runs a job module on the embedded MiniCluster as a background process, and stops it.

A local PyFlink job is a Python process with a JVM and Python workers under it;
it runs in its own session so a stop reaches all of them. A Flink job of `flink_jobs.jobs` is
handed the Pulsar connector jars that the set-up fetched.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rtai import paths
from rtai.bootstrap import java_artifacts
from rtai.stack import processes

STOP_TIMEOUT_S = 20
FLINK_JOBS = "flink_jobs.jobs."


def start_local(module: str, args: list[str], log_file: Path) -> processes.PidRecord:
    if module.startswith(FLINK_JOBS):
        args = [*args, "--connector-jars", str(java_artifacts.CONNECTORS_DIR)]
    return processes.spawn(
        [sys.executable, "-m", module, *args],
        log_file=log_file,
        pid_file=log_file.with_suffix(".pid"),
        env=dict(os.environ),
        cwd=paths.PROJECT_ROOT,
    )


def stop_local(record: processes.PidRecord) -> None:
    processes.stop(record, STOP_TIMEOUT_S)
