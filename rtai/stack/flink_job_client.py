"""The jobs on a Flink cluster, through Flink's own CLI (`flink run|list|cancel|stop`).

`submit` ships the project's `flink_jobs` package as a zip (`-pyfs`) and runs the job module
(`-pym`) in the client: the job graph, with the pipeline config read into it, is built here and
sent to the JobManager. The TaskManagers run the Python operators with the cluster's
`python.executable` (the local cluster's config points it at the project's flink environment;
`--pyexec` overrides it), and they need the Pulsar connector jars on their class path, as the
stack's cluster has them in its lib/ folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import zipfile
from pathlib import Path

from flink_jobs.errors import UserFacingError
from flink_jobs.jobs import MODULES
from rtai import paths
from rtai.stack import flink_cluster
from rtai.stack.config import StackConfig

SUBMITTED = re.compile(r"Job has been submitted with JobID ([0-9a-f]{32})")
SAVEPOINT = re.compile(r"Savepoint completed\. Path: (\S+)")


def stack_jobmanager(config: StackConfig) -> str:
    """The stack's cluster as Flink's CLI addresses it: it turns REST TLS off for an address
    without https://, whatever its config says."""
    return f"{'https://' if config.secure else ''}localhost:{config.flink.rest_port}"


def package_zip() -> Path:
    """flink_jobs/ (its .py files) as .run/data/flink/flink_jobs.zip, rebuilt on every submit."""
    target = paths.RUN_DIR / "data" / "flink" / "flink_jobs.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    package = paths.PROJECT_ROOT / "flink_jobs"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for source in sorted(package.rglob("*.py")):
            archive.write(source, source.relative_to(paths.PROJECT_ROOT))
    return target


def flink_cli(config: StackConfig, *args: str, timeout_s: float = 300) -> str:
    """Runs the wheel's bin/flink with the stack cluster's config (client side: the Python client
    executable); its output, or an error naming the command."""
    program = paths.flink_home() / "bin" / "flink"
    if not program.is_file():
        raise UserFacingError(f"Flink's CLI not found at {program}: run the set-up first (`make setup`)")
    if not (flink_cluster.conf_dir() / "config.yaml").is_file():
        flink_cluster.prepare(config)
    env = {**os.environ, **flink_cluster.environment()}
    command = ["bash", str(program), *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0:
        detail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise UserFacingError(f"`flink {' '.join(args)}` failed ({result.returncode}):\n" + "\n".join(detail))
    return result.stdout


def submit(
    config: StackConfig,
    job: str,
    pipeline: Path,
    *,
    jobmanager: str,
    from_savepoint: str | None = None,
    pyexec: str | None = None,
) -> str:
    """Submits detached; the job id."""
    args = ["run", "--detached", "--jobmanager", jobmanager, "-pym", MODULES[job], "-pyfs", str(package_zip())]
    if pyexec:
        args += ["-pyexec", pyexec]
    if from_savepoint:
        args += ["--fromSavepoint", from_savepoint]
    args += ["--pipeline", str(pipeline.resolve()), "--connector-from-classpath"]
    output = flink_cli(config, *args)
    found = SUBMITTED.search(output)
    if not found:
        raise UserFacingError(f"flink run printed no job id:\n{output[-2000:]}")
    return found.group(1)


def list_jobs(config: StackConfig, jobmanager: str) -> str:
    return flink_cli(config, "list", "--jobmanager", jobmanager)


def cancel(config: StackConfig, job_id: str, jobmanager: str) -> None:
    flink_cli(config, "cancel", "--jobmanager", jobmanager, job_id)


def stop_with_savepoint(config: StackConfig, job_id: str, jobmanager: str, savepoint_dir: Path | None) -> str:
    """Stops the job after a final savepoint (sources stop first: nothing in flight is lost); its path."""
    args = ["stop", "--jobmanager", jobmanager, "--type", "canonical"]
    if savepoint_dir is not None:
        args += ["--savepointPath", savepoint_dir.resolve().as_uri()]
    output = flink_cli(config, *args, job_id)
    found = SAVEPOINT.search(output)
    if not found:
        raise UserFacingError(f"flink stop printed no savepoint path:\n{output[-2000:]}")
    return found.group(1)
