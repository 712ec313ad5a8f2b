"""`rtai edge link|status`: an edge site's replication to the core (its stack config's [edge])."""

from __future__ import annotations

import argparse

from rtai.stack.profiles import add_profile_option, use_profile


def _config(args: argparse.Namespace):
    from rtai.stack import config as stack_config

    use_profile(args)
    return stack_config.load()


def _cmd_link(args: argparse.Namespace) -> None:
    from rtai.edge import replication

    config = _config(args)
    replication.link(config)
    edge = config.edge
    print(
        f"{config.edge.namespace}: replicated from {config.pulsar.cluster} to {edge.core_cluster} "
        f"({edge.core_address}:{edge.core_broker_port}); backlog quota {edge.backlog_quota_mb:g} MB, "
        f"when full: {edge.backlog_quota_policy}"
    )


def _cmd_status(args: argparse.Namespace) -> None:
    from rtai.edge import replication

    for topic in replication.status(_config(args)):
        print(f"{topic.topic}  {'connected' if topic.connected else 'NOT CONNECTED'}  backlog {topic.backlog}")


def add_subcommand(commands: argparse._SubParsersAction) -> None:
    text = "an edge site: replicate its outputs to the core site's Pulsar ([edge] in the stack config)"
    edge = commands.add_parser("edge", help=text, description=text)
    sub = edge.add_subparsers(dest="edge_command", required=True)
    text = (
        "register each site's cluster on the other, and replicate the [edge] namespace from this site to the "
        "core with its backlog quota (idempotent)"
    )
    link = sub.add_parser("link", help=text, description=text)
    link.set_defaults(func=_cmd_link)
    text = "per topic of the [edge] namespace: replicator connected to the core, messages waiting for it"
    status = sub.add_parser("status", help=text, description=text)
    status.set_defaults(func=_cmd_status)
    for parser in (link, status):
        add_profile_option(parser)
