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
from rtai.stack import flink_reporter, processes, scrape_targets

STOP_TIMEOUT_S = 20
FLINK_JOBS = "flink_jobs.jobs."
OWNER_FILE = "owner.pid"  # in a run's temp folder: the process it belongs to
UNOWNED_GRACE_S = 60  # a folder without an owner yet is being set up by a start


def tmp_root() -> Path:
    return paths.RUN_DIR / "tmp"


def start_local(module: str, args: list[str], log_file: Path, cwd: Path = paths.PROJECT_ROOT) -> processes.PidRecord:
    """Starts `python -m module args` detached, logging to `log_file`; run from `cwd`, whose
    `flink_jobs` (if any) is the one imported. A Flink job serves its metrics to Prometheus on a
    free port, announced in Prometheus's file_sd folder for as long as its run folder exists."""
    remove_abandoned_tmp()
    tmp_root().mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{log_file.stem}-", dir=tmp_root()))
    env = {**os.environ, "TMPDIR": str(tmp)}
    if module.startswith(FLINK_JOBS):
        port = flink_reporter.free_port()
        args = [*args, "--connector-jars", str(java_artifacts.CONNECTORS_DIR), *flink_reporter.dynamic_properties(port)]
        flink_reporter.announce(tmp.name, port)
        # The JVM's own log in a folder beside the job's log (PyFlink's default: the wheel's log/).
        # PyFlink reads FLINK_LIB_DIR only when FLINK_HOME is set.
        env |= {
            "FLINK_HOME": str(paths.flink_home()),
            "FLINK_LIB_DIR": str(local_lib_dir()),
            "FLINK_LOG_DIR": str(log_file.parent / f"{log_file.stem}-jvm"),
        }
    record = processes.spawn(
        [sys.executable, "-m", module, *args],
        log_file=log_file,
        pid_file=log_file.with_suffix(".pid"),
        env=env,
        cwd=cwd,
    )
    processes.write_pid_file(tmp / OWNER_FILE, record)
    return record


def local_lib_dir() -> Path:
    """FLINK_LIB_DIR for local jobs: links to the wheel's lib/ jars and its Prometheus reporter
    (the MiniCluster loads metric reporters from its class path only, not from plugins/)."""
    home = paths.flink_home()
    folder = paths.RUN_DIR / "data" / "flink-local" / "lib"
    folder.mkdir(parents=True, exist_ok=True)
    for jar in [*(home / "lib").glob("*.jar"), *(home / "plugins" / "metrics-prometheus").glob("*.jar")]:
        link = folder / jar.name
        if not link.is_symlink() or link.resolve() != jar.resolve():
            link.unlink(missing_ok=True)
            link.symlink_to(jar)
    return folder


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
            (scrape_targets.local_jobs_dir() / f"{folder.name}.json").unlink(missing_ok=True)
