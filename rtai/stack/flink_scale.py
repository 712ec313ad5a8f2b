"""The Flink cluster's TaskManagers scaled to a count: `rtai stack scale taskmanagers N` and the
scaling loop (rtai/scaling/loop.py), which also restarts what did not start (`running_taskmanagers`
below the kept count)."""

from __future__ import annotations

from flink_jobs.errors import UserFacingError
from rtai.stack import flink_cluster, manager, scrape_targets
from rtai.stack.config import StackConfig


def scale_taskmanagers(config: StackConfig, count: int) -> None:
    """TaskManagers 1..count running and the others stopped (the highest first); the count kept
    for the next `up`. In reactive mode the job follows: rescaled from its last checkpoint."""
    if not 1 <= count <= config.flink.max_taskmanagers:
        most = config.flink.max_taskmanagers
        raise UserFacingError(f"taskmanagers: from 1 to [flink] max_taskmanagers ({most}), got {count}")
    jobmanager = next(s for s in flink_cluster.services(config) if s.name == flink_cluster.JOBMANAGER)
    if manager.running_record(jobmanager) is None:
        raise UserFacingError("the Flink cluster is not running: start it with `rtai stack up --with-flink`")
    flink_cluster.taskmanagers_file().write_text(f"{count}\n")
    taskmanagers = flink_cluster.taskmanager_services(config)
    manager.up(taskmanagers[:count])
    manager.down(taskmanagers[count:])
    for surplus in taskmanagers[count:]:
        scrape_targets.forget(surplus)


def running_taskmanagers(config: StackConfig) -> int:
    """TaskManagers whose process runs now (one that did not become ready was stopped)."""
    return sum(1 for service in flink_cluster.taskmanager_services(config) if manager.running_record(service))
