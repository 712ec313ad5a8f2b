"""Runs a job module on the embedded MiniCluster as a background process, and stops it.

A local PyFlink job is a Python process with a JVM and Python workers under it;
it runs in its own session so a stop reaches all of them. A Flink job of `flink_jobs.jobs` is
handed the Pulsar connector jars that the set-up fetched.

Each run gets its own temp folder under .run/tmp/ (TMPDIR; the jobs point the JVM's
java.io.tmpdir, and so Flink's io.tmp.dirs, at it): the MiniCluster's RPC jar, io, netty, blob
and Python staging folders land there, not in the system's temp folder. A run's folder is
removed when it is stopped, and any folder whose process is gone (a job that ended by itself,
or whose starter was killed) at the next start or stop.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rtai import paths
from rtai.bootstrap import java_artifacts
from rtai.stack import processes

STOP_TIMEOUT_S = 20
FLINK_JOBS = "flink_jobs.jobs."
OWNER_FILE = "owner.pid"  # in a run's temp folder: the process it belongs to
UNOWNED_GRACE_S = 60  # a folder without an owner yet is being set up by a start


def tmp_root() -> Path:
    return paths.RUN_DIR / "tmp"


def start_local(module: str, args: list[str], log_file: Path, cwd: Path = paths.PROJECT_ROOT) -> processes.PidRecord:
    """Starts `python -m module args` detached, logging to `log_file`; run from `cwd`, whose
    `flink_jobs` (if any) is the one imported."""
    if module.startswith(FLINK_JOBS):
        args = [*args, "--connector-jars", str(java_artifacts.CONNECTORS_DIR)]
    remove_abandoned_tmp()
    tmp_root().mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{log_file.stem}-", dir=tmp_root()))
    record = processes.spawn(
        [sys.executable, "-m", module, *args],
        log_file=log_file,
        pid_file=log_file.with_suffix(".pid"),
        env={**os.environ, "TMPDIR": str(tmp)},
        cwd=cwd,
    )
    processes.write_pid_file(tmp / OWNER_FILE, record)
    return record


def stop_local(record: processes.PidRecord) -> None:
    processes.stop(record, STOP_TIMEOUT_S)
    remove_abandoned_tmp()


def remove_abandoned_tmp() -> None:
    """Removes the run folders under .run/tmp whose process is gone."""
    for folder in sorted(tmp_root().glob("*")) if tmp_root().is_dir() else []:
        owner = processes.read_pid_file(folder / OWNER_FILE)
        if owner is None and time.time() - folder.stat().st_mtime < UNOWNED_GRACE_S:
            continue
        if owner is None or not processes.is_running(owner):
            shutil.rmtree(folder, ignore_errors=True)
