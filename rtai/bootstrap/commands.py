"""`rtai setup`: prerequisites, the project's environments and its Java artifacts.

Runs on the bare system Python before any environment exists: standard library only here."""

from __future__ import annotations

import argparse


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    setup = subparsers.add_parser(
        "setup",
        help="check prerequisites, create the flink/feast/triton environments, fetch the Java artifacts",
    )
    setup.add_argument("--with-redis", action="store_true", help="also install redis-server with apt-get")
    setup.add_argument(
        "--with-monitoring",
        action="store_true",
        help="also install Prometheus and Alertmanager (prometheus, prometheus-alertmanager) with apt-get",
    )
    setup.add_argument(
        "--with-kubectl",
        action="store_true",
        help="also install kubectl (kubernetes-client) with apt-get, when none is on PATH: it renders infra/k8s",
    )
    setup.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> None:
    from rtai.bootstrap import setup

    setup.run(with_redis=args.with_redis, with_monitoring=args.with_monitoring, with_kubectl=args.with_kubectl)
