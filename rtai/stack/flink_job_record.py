"""What the stack's Flink cluster ran, so a job it does not bring back is never silent.

Flink's high availability recovers a cluster's jobs from ZooKeeper and the HA storage; when that
data is gone (deleted, a reset, high availability off) the JobManager comes up empty and says
nothing. The stack therefore keeps its own record, .run/data/flink/jobs.json: every job seen
running on the cluster (or submitted with `rtai job submit`) until it is seen in a terminal state
or stopped, cancelled or forgotten through `rtai job`. A recorded job the JobManager does not
know, once it answers, is not recovered: `rtai stack up`, `rtai job list` and the
`rtai_flink_job_not_recovered` metric (rtai.stack.flink_job_watch, alert FlinkJobNotRecovered) say so until
`rtai job forget` or a clean `rtai stack down`.

A clean down ends the cluster: its jobs stopped with a savepoint (or cancelled), then
rtai.stack.flink_cluster.end_cluster, so nothing comes back at the next start.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flink_jobs.errors import UserFacingError
from rtai.console import step
from rtai.stack import flink_job_client, secure_profile
from rtai.stack.config import StackConfig
from rtai.stack.probes import http_json
from rtai.stack.service import data_dir

TERMINAL = frozenset({"FINISHED", "CANCELED", "FAILED"})


@dataclass(frozen=True)
class LostJob:
    job_id: str
    name: str
    missing_since: float  # epoch seconds: when a JobManager that answered first did not know it
    last_checkpoint: Path | None  # its newest checkpoint left on disk, to resume from


def record_file() -> Path:
    return data_dir("flink") / "jobs.json"


@contextlib.contextmanager
def _record() -> Iterator[dict[str, dict]]:
    """The record (job id -> {"name", "missing_since"}) under a lock, written back if changed: the
    CLI and the watch process update it concurrently."""
    path = record_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            jobs = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            jobs = {}
        before = json.dumps(jobs, sort_keys=True)
        yield jobs
        if json.dumps(jobs, sort_keys=True) != before:
            scratch = path.with_suffix(".tmp")
            scratch.write_text(json.dumps(jobs, indent=2, sort_keys=True))
            os.replace(scratch, path)


def remember(job_id: str, name: str) -> None:
    with _record() as jobs:
        jobs[job_id] = {"name": name, "missing_since": None}


def forget(job_id: str) -> bool:
    """Drops a job from the record; whether it was there."""
    with _record() as jobs:
        return jobs.pop(job_id, None) is not None


def clear() -> None:
    with _record() as jobs:
        jobs.clear()


def cluster_jobs(config: StackConfig) -> dict[str, tuple[str, str]] | None:
    """job id -> (name, state) as the stack's JobManager reports them; None while it does not
    answer (down, or no leader yet: the REST API answers only once the dispatcher has recovered)."""
    overview = http_json(f"{config.flink_rest_url}/jobs/overview", secure_profile.mutual_tls(config))
    if overview is None:
        return None
    return {job["jid"]: (job["name"], job["state"]) for job in overview.get("jobs", [])}


def reconcile(config: StackConfig) -> bool:
    """Updates the record from the cluster; whether it answered (nothing changes while it does not)."""
    found = cluster_jobs(config)
    if found is None:
        return False
    now = time.time()
    with _record() as jobs:
        for job_id, (name, state) in found.items():
            if state in TERMINAL:
                jobs.pop(job_id, None)
            else:
                jobs[job_id] = {"name": name, "missing_since": None}
        for job_id, entry in jobs.items():
            if job_id not in found and entry["missing_since"] is None:
                entry["missing_since"] = now
    return True


def lost_jobs() -> list[LostJob]:
    """The recorded jobs the cluster did not know when it last answered."""
    with _record() as jobs:
        missing = {job_id: entry for job_id, entry in jobs.items() if entry["missing_since"] is not None}
    return [
        LostJob(job_id, entry["name"], entry["missing_since"], last_checkpoint(job_id))
        for job_id, entry in sorted(missing.items())
    ]


def last_checkpoint(job_id: str) -> Path | None:
    """The job's newest complete checkpoint under the cluster's state.checkpoints.dir, which
    `rtai job submit --from-savepoint` resumes from."""
    return newest_complete_checkpoint(data_dir("flink") / "checkpoints" / job_id)


def newest_complete_checkpoint(job_checkpoints: Path) -> Path | None:
    """The newest chk-N under one job's checkpoint directory that has its _metadata (a subsumed
    checkpoint being deleted, or one still being written, has none)."""
    complete = [p.parent for p in job_checkpoints.glob("chk-*/_metadata")]
    return max(complete, key=lambda p: int(p.name.removeprefix("chk-")), default=None)


def describe(lost: LostJob) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(lost.missing_since))
    resume = (
        f"its last checkpoint is {lost.last_checkpoint} (`rtai job submit JOB --from-savepoint "
        f"{lost.last_checkpoint}` resumes it)"
        if lost.last_checkpoint
        else "no checkpoint of it is left"
    )
    return (
        f"NOT RECOVERED: job {lost.name!r} ({lost.job_id}) was running on this cluster and is not there since "
        f"{since} (its high-availability data is gone, or the cluster was reset); {resume}; "
        f"`rtai job forget {lost.job_id}` once dealt with"
    )


def report_after_start(config: StackConfig, timeout_s: float) -> list[LostJob]:
    """After `rtai stack up`: waits for the JobManager to answer with its recovered jobs, names
    them and, on stderr, every recorded job it did not bring back."""
    deadline = time.monotonic() + timeout_s
    while not reconcile(config):
        if time.monotonic() > deadline:
            step(f"flink: the JobManager did not list its jobs within {timeout_s:.0f} s; `rtai job list` checks later")
            return []
        time.sleep(1)
    running = cluster_jobs(config) or {}
    for job_id, (name, state) in sorted(running.items()):
        if state not in TERMINAL:
            step(f"flink: job {name!r} ({job_id}) {state}")
    lost = lost_jobs()
    for job in lost:
        step(f"flink: {describe(job)}")
    return lost


def end_jobs(config: StackConfig, *, cancel: bool) -> bool:
    """Before a clean down: every job of the cluster stopped with a savepoint, or cancelled
    (`cancel`, or when its savepoint fails), each said on stderr. Whether the cluster can end:
    False when its JobManager does not answer or a job could be neither stopped nor cancelled
    (the cluster and its jobs are then kept for the next start)."""
    found = cluster_jobs(config)
    if found is None:
        step("flink: the JobManager does not answer: its cluster and jobs are kept for the next `rtai stack up`")
        return False
    jobmanager = flink_job_client.stack_jobmanager(config)
    ended = True
    for job_id, (name, state) in sorted(found.items()):
        if state in TERMINAL:
            continue
        if not cancel:
            try:
                path = flink_job_client.stop_with_savepoint(config, job_id, jobmanager, None)
                step(f"flink: stopped job {name!r} ({job_id}) with a savepoint: {path}")
                continue
            except UserFacingError as error:
                step(f"flink: job {name!r} ({job_id}) could not be stopped with a savepoint ({error}); cancelling it")
        try:
            flink_job_client.cancel(config, job_id, jobmanager)
        except UserFacingError as error:
            step(f"flink: job {name!r} ({job_id}) could not be cancelled ({error}): the cluster keeps it")
            ended = False
            continue
        checkpoint = last_checkpoint(job_id)
        step(f"flink: cancelled job {name!r} ({job_id}); its last checkpoint: {checkpoint or 'none'}")
    return ended
