"""Prometheus's file_sd folders, and the stack's services as targets in the first.

- targets/: a service announces itself when it is ready and stays a target when it stops or
  dies, so a service that is down while Prometheus runs shows as `up == 0` and pages.
  Prometheus's own start forgets the targets of services that do not run then (an earlier stack's).
- local-jobs/: the local (MiniCluster) jobs while they run (rtai.jobs.launcher, rtai.stack.flink_reporter).
- processes/: the project's own processes while they run (rtai.monitoring.process_metrics)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from rtai import paths
from rtai.stack.probes import LOCALHOST
from rtai.stack.service import Service


def targets_dir() -> Path:
    return paths.RUN_DIR / "data" / "prometheus" / "targets"


def local_jobs_dir() -> Path:
    return paths.RUN_DIR / "data" / "prometheus" / "local-jobs"


def processes_dir() -> Path:
    return paths.RUN_DIR / "data" / "prometheus" / "processes"


def target_file(service: Service) -> Path:
    return targets_dir() / f"{service.name}.json"


def announce(service: Service) -> None:
    if service.metrics is None:
        return
    scrape = service.metrics
    labels = {"job": scrape.job, "service": service.name, "__metrics_path__": scrape.path}
    entry = [{"targets": [f"{LOCALHOST}:{service.ports[scrape.port_role]}"], "labels": labels}]
    targets_dir().mkdir(parents=True, exist_ok=True)
    target_file(service).write_text(json.dumps(entry))


def forget(service: Service) -> None:
    """No longer a target: a service stopped on purpose (a TaskManager scaled in) pages nobody."""
    target_file(service).unlink(missing_ok=True)


def forget_all_but(running: Iterable[Service]) -> None:
    keep = {target_file(service) for service in running}
    for path in targets_dir().glob("*.json") if targets_dir().is_dir() else []:
        if path not in keep:
            path.unlink(missing_ok=True)
