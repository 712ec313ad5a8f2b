"""`rtai stack up|down|status|logs`."""

from __future__ import annotations

import argparse
import os
from collections import deque

from flink_jobs.errors import UserFacingError
from rtai.stack import config as stack_config
from rtai.stack import manager, registry
from rtai.stack.service import Service


def _services(args: argparse.Namespace, config: stack_config.StackConfig) -> list[Service]:
    try:
        return registry.selected(
            config,
            with_redis=getattr(args, "with_redis", False),
            with_flink=getattr(args, "with_flink", False),
            with_monitoring=getattr(args, "with_monitoring", False),
            only=args.services,
        )
    except ValueError as err:
        raise UserFacingError(str(err)) from None


def run(args: argparse.Namespace) -> None:
    if getattr(args, "secure", False):
        # For this command and every process it starts.
        os.environ[stack_config.PROFILE_VARIABLE] = "secure"
    config = stack_config.load()
    if args.stack_command == "up":
        manager.up(_services(args, config))
        for service in _services(args, config):
            print(manager.status(service).line())
    elif args.stack_command == "down":
        # Stops whatever runs, whether or not it was asked for at `up`.
        services = _services(args, config) if args.services else registry.all_services(config)
        manager.down(services)
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
