"""`rtai edge link|status`: an edge site's replication to the core (its stack config's [edge]);
`rtai edge publish model|features` at the core and `rtai edge sync` at the site: the core's
updates to the site (rtai.edge.core_updates)."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path

from rtai import paths
from rtai.arg_types import positive
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


MAX_ENTITIES = 100_000  # per publish: the rows travel in messages of 500, all held in memory first


def entity_ids(text: str) -> list[int]:
    """ "1-400,17" -> [1, ..., 400, 17]: the entities a site serves."""
    ids: list[int] = []
    try:
        for part in filter(None, text.split(",")):
            first, _, last = part.partition("-")
            ids.extend(range(int(first), int(last or first) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not ids and ranges such as 1-400,17: {text!r}") from None
    return ids


def _pipeline(args: argparse.Namespace):
    from flink_jobs.config import pipeline_config

    return pipeline_config.load(args.pipeline)


def _cmd_publish_model(args: argparse.Namespace) -> None:
    from rtai.edge import core_updates, model_update

    config = _pipeline(args)
    version = args.version or model_update.served_version(args.repository, config.model.name)
    update = model_update.read_version(args.repository, config.model.name, version)
    core_updates.publish(config, [(update.onnx, update.properties())])
    print(f"{update.name} version {version} ({len(update.onnx)} bytes) sent on {config.topics.core_updates}")


def _cmd_publish_features(args: argparse.Namespace) -> None:
    from flink_jobs.clients.feast_client import FeastClient
    from flink_jobs.errors import UserFacingError
    from flink_jobs.stages.enrich.enricher import Enricher
    from rtai.edge import core_updates, feature_update

    entities = len(args.card_ids) + len(args.merchant_ids)
    if not 0 < entities <= MAX_ENTITIES:
        raise UserFacingError(f"rtai edge publish features: give 1 to {MAX_ENTITIES:,} --card-ids and --merchant-ids")
    config = _pipeline(args)
    feast = FeastClient.from_calls(config.inference_job.feast)
    try:
        enricher = Enricher(feast, config.features.service)
        ids = {"card_id": args.card_ids, "merchant_id": args.merchant_ids}
        updates = feature_update.read_views(enricher, config.inference_job.cached_views, ids)
    finally:
        feast.close()
    core_updates.publish(config, [(u.to_bytes(), u.properties()) for u in updates])
    for view in config.inference_job.cached_views:
        rows = sum(len(u.rows) for u in updates if u.view == view.view)
        print(f"{view.view}: {rows} rows sent on {config.topics.core_updates}")


def _cmd_sync(args: argparse.Namespace) -> None:
    from rtai.edge import core_updates

    stopping = threading.Event() if args.follow else None
    if stopping is not None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
    config = _pipeline(args)
    result = core_updates.sync(
        config,
        args.repository or Path(config.inference_job.model_repository),
        idle_s=args.idle_s,
        stopping=stopping,
        report=lambda outcome, text: print(json.dumps({"outcome": outcome, "update": text}), flush=True),
    )
    print(f"applied {len(result.applied)}, rejected {len(result.rejected)}")


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

    text = "at the core: send a model version or feature values to the edge sites (the pipeline's core_updates topic)"
    publish = sub.add_parser("publish", help=text, description=text)
    kinds = publish.add_subparsers(dest="publish_kind", required=True)
    text = "one version's ONNX file of the pipeline's model (default: the one served)"
    model = kinds.add_parser("model", help=text, description=text)
    model.add_argument("--version", type=positive(int), help="the version to send (default: the served one)")
    model.add_argument("--repository", type=Path, default=paths.TRITON_REPO, help="the core's model repository")
    model.set_defaults(func=_cmd_publish_model)
    text = "the rows of the pipeline's cached views for the sites' entities, as the core's Feast serves them"
    features = kinds.add_parser("features", help=text, description=text)
    features.add_argument("--card-ids", type=entity_ids, default=[], help="cards, such as 1-400,17")
    features.add_argument("--merchant-ids", type=entity_ids, default=[], help="merchants, such as 1-50")
    features.set_defaults(func=_cmd_publish_features)
    text = (
        "at an edge site: check and apply the core's updates (a model version is served once it scores, "
        "feature rows are written once they match the site's FeatureService); the rest is reported"
    )
    sync = sub.add_parser("sync", help=text, description=text)
    sync.add_argument("--repository", type=Path, help="the site's model repository (default: the pipeline's)")
    sync.add_argument("--idle-s", type=positive(float), default=2.0, help="stop after this long without an update")
    sync.add_argument("--follow", action="store_true", help="keep applying updates until stopped (SIGTERM)")
    sync.set_defaults(func=_cmd_sync)
    for parser in (model, features, sync):
        parser.add_argument("--pipeline", type=Path, default=paths.EDGE_PIPELINE, help="the edge pipeline config")
