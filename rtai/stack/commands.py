"""`rtai stack up|down|status|logs`."""

from __future__ import annotations

import argparse
import os
from collections import deque

from flink_jobs.errors import UserFacingError
from rtai.jobs import recovery
from rtai.stack import config as stack_config
from rtai.stack import flink_cluster, flink_scale, manager, profiles, registry
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
    return recovery.end_jobs(config, cancel=cancel)


def run(args: argparse.Namespace) -> None:
    if getattr(args, "secure", False):
        # For this command and every process it starts.
        os.environ[stack_config.PROFILE_VARIABLE] = "secure"
    profiles.use_profile(args)
    config = stack_config.load()
    if args.stack_command == "up":
        services = _services(args, config)
        manager.up(services)
        if any(s.name == flink_cluster.JOBMANAGER for s in services):
            # A JobManager started again recovers its jobs after ZooKeeper expires the dead one's session.
            recovery.report_after_start(config, timeout_s=config.flink.ready_timeout_s)
        for service in services:
            print(manager.status(service).line())
    elif args.stack_command == "down":
        # Stops whatever runs, whether or not it was asked for at `up`.
        services = _services(args, config) if args.services else registry.all_services(config)
        ends_cluster = _end_flink_jobs(services, config, cancel=args.cancel_jobs)
        manager.down(services)
        if ends_cluster:
            flink_cluster.end_cluster()
            recovery.clear()
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
