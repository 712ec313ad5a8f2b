"""The local stack's services up, down, scaled, listed: what `rtai stack` does, callable as functions."""

from __future__ import annotations

import argparse
import os
from collections import deque

from flink_jobs.errors import UserFacingError
from rtai.stack import config as stack_config
from rtai.stack import flink_cluster, flink_job_record, flink_scale, manager, profiles, registry
from rtai.stack.service import Service


def _services(args: argparse.Namespace, config: stack_config.StackConfig) -> list[Service]:
    try:
        return registry.selected(
            config,
            with_redis=getattr(args, "with_redis", False),
            with_flink=getattr(args, "with_flink", False),
            with_monitoring=getattr(args, "with_monitoring", False),
            with_api=getattr(args, "with_api", False),
            only=args.services,
        )
    except ValueError as err:
        raise UserFacingError(str(err)) from None


def _end_flink_jobs(services: list[Service], config: stack_config.StackConfig, *, cancel: bool) -> bool:
    """A clean down ends the Flink cluster, its jobs stopped first; whether it can end. A cluster
    whose JobManager is not running (crashed) keeps its jobs: they resume at the next up. A
    reactive application cluster is kept: its one job is the cluster, and stopping it would end
    the JobManager under its supervisor."""
    jobmanager = next((s for s in services if s.name == flink_cluster.JOBMANAGER), None)
    if jobmanager is None or config.flink.mode == "reactive":
        return False
    if manager.running_record(jobmanager) is None and not flink_cluster.cluster_id_file().is_file():
        return False  # no cluster to end
    return flink_job_record.end_jobs(config, cancel=cancel)


def up(config: stack_config.StackConfig, services: list[Service] | None = None) -> None:
    """`rtai stack up`: starts the services (default: those the config enables) and waits until each
    is healthy; prints a status line for each."""
    services = registry.selected(config) if services is None else services
    manager.up(services)
    if any(s.name == flink_cluster.JOBMANAGER for s in services):
        # A JobManager started again recovers its jobs after ZooKeeper expires the dead one's session.
        flink_job_record.report_after_start(config, timeout_s=config.flink.ready_timeout_s)
    for service in services:
        print(manager.status(service).line())


def down(config: stack_config.StackConfig, services: list[Service] | None = None, *, cancel_jobs: bool = False) -> None:
    """`rtai stack down`: stops the services (default: whatever runs, whether or not it was asked for
    at `up`) and all they spawned; a clean down of the Flink cluster ends it, its jobs stopped first."""
    services = registry.all_services(config) if services is None else services
    ends_cluster = _end_flink_jobs(services, config, cancel=cancel_jobs)
    manager.down(services)
    if ends_cluster:
        flink_cluster.end_cluster()
        flink_job_record.clear()


def run(args: argparse.Namespace) -> None:
    if getattr(args, "secure", False):
        # For this command and every process it starts.
        os.environ[stack_config.PROFILE_VARIABLE] = "secure"
    profiles.use_profile(args)
    config = stack_config.load()
    if args.stack_command == "up":
        up(config, _services(args, config))
    elif args.stack_command == "down":
        down(config, _services(args, config) if args.services else None, cancel_jobs=args.cancel_jobs)
    elif args.stack_command == "scale":
        flink_scale.scale_taskmanagers(config, args.count)
        for service in flink_cluster.taskmanager_services(config):
            status = manager.status(service)
            if status.state != "down":
                print(status.line())
    elif args.stack_command == "status":
        # By default: the services `up` would start, and any other that happens to run.
        wanted = {s.name for s in _services(args, config)}
        for service in registry.all_services(config):
            status = manager.status(service)
            if service.name in wanted or (not args.services and status.state != "down"):
                print(status.line())
    elif args.stack_command == "logs":
        services = _services(args, config) if args.services else registry.all_services(config)
        for service in services:
            if service.log_file.is_file():
                print(f"==> {service.log_file} <==")
                with service.log_file.open(errors="replace") as log:
                    print("".join(deque(log, maxlen=args.lines)), end="")
