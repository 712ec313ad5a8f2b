"""The core-updates topic (`[topics] core_updates` of an edge pipeline): the core publishes model
versions and feature values on it, in the namespace its Pulsar replicates to the edge sites
(`rtai edge link`), and each site applies them with `rtai edge sync`.

A site reads the topic on a durable subscription and acknowledges an update once it is applied
or rejected (a rejected one is reported and never blocks the ones after it). One that could not
be applied for a passing reason (the site's Feast down) is not acknowledged: sync stops with an
error and the next sync takes it again. While the core is unreachable nothing new arrives, and
the site keeps scoring with the model and the feature values it has.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pulsar

from flink_jobs.clients.feast_client import FeastClient, FeastUnavailable
from flink_jobs.config.pipeline_config import PipelineConfig
from flink_jobs.config.topics import full_name
from flink_jobs.errors import UserFacingError
from flink_jobs.stages.enrich.enricher import Enricher
from rtai import pulsar_client
from rtai.edge import feature_update, model_update
from rtai.edge.update_rejected import UpdateRejected

log = logging.getLogger(__name__)
SUBSCRIPTION = "rtai-edge-sync"


def publish(config: PipelineConfig, updates: list[tuple[bytes, dict[str, str]]]) -> None:
    """The core side: each (payload, properties) on the pipeline's core-updates topic, in order."""
    client = pulsar_client.connect(config.pulsar.service_url, tls_trust_certs_file=config.pulsar.tls_trust_certs_file)
    try:
        producer = client.create_producer(full_name(config.topics.core_updates))
        for payload, properties in updates:
            producer.send(payload, properties=properties)
        producer.close()
    finally:
        client.close()


@dataclass
class SyncReport:
    applied: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def _apply(message: pulsar.Message, config: PipelineConfig, site: Enricher, repository: Path) -> str:
    properties, data = message.properties(), message.data()
    kind = properties.get("kind")
    if kind == model_update.KIND:
        return model_update.install(model_update.from_message(properties, data), repository, config.model.name)
    if kind == feature_update.KIND:
        update = feature_update.from_message(data)
        views, max_ahead_ms = config.inference_job.cached_views, config.events.max_ahead_ms
        return feature_update.write(update, site, views, max_ahead_ms).describe(update.view)
    raise UpdateRejected(f"an update of kind {kind!r} (known: {model_update.KIND}, {feature_update.KIND})")


def sync(
    config: PipelineConfig,
    repository: Path,
    *,
    idle_s: float,
    stopping: threading.Event | None = None,
    report: Callable[[str, str], None] = lambda outcome, text: None,
) -> SyncReport:
    """The site side: applies the updates waiting on the topic; returns after idle_s without one,
    or, with `stopping`, when it is set. `report(outcome, text)` hears of each as it is done."""
    client = pulsar_client.connect(config.pulsar.service_url, tls_trust_certs_file=config.pulsar.tls_trust_certs_file)
    feast = FeastClient.from_calls(config.inference_job.feast)
    site = Enricher(feast, config.features.service)
    result = SyncReport()
    try:
        consumer = client.subscribe(
            full_name(config.topics.core_updates),
            SUBSCRIPTION,
            consumer_type=pulsar.ConsumerType.Failover,
            initial_position=pulsar.InitialPosition.Earliest,
        )
        while stopping is None or not stopping.is_set():
            try:
                message = consumer.receive(timeout_millis=int(idle_s * 1000))
            except pulsar.Timeout:
                if stopping is None:
                    break
                continue
            try:
                text = _apply(message, config, site, repository)
            except UpdateRejected as err:
                result.rejected.append(str(err))
                report("rejected", str(err))
                log.warning("update rejected: %s", err)
            except (FeastUnavailable, OSError) as err:
                consumer.negative_acknowledge(message)
                problem = f"an update could not be applied now; the next sync takes it again: {err}"
                raise UserFacingError(problem) from err
            else:
                result.applied.append(text)
                report("applied", text)
            consumer.acknowledge(message)
        consumer.close()
    finally:
        feast.close()
        client.close()
    return result
