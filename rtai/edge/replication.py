"""Geo-replication from an edge site's Pulsar to the core's, through both brokers' admin APIs:
each cluster registered on the other side (no shared configuration store), the `public` tenant
allowed on both, the site's namespace on both with both clusters as its replication clusters,
and the edge's backlog quota. Every step is idempotent: `rtai edge link` can run again."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from flink_jobs.errors import UserFacingError
from rtai.stack.config import StackConfig

ADMIN_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Site:
    cluster: str
    address: str
    broker_port: int
    web_port: int

    @property
    def admin_url(self) -> str:
        return f"http://{self.address}:{self.web_port}"

    @property
    def cluster_data(self) -> dict[str, str]:
        return {"serviceUrl": self.admin_url, "brokerServiceUrl": f"pulsar://{self.address}:{self.broker_port}"}


def sites(config: StackConfig) -> tuple[Site, Site]:
    """(edge, core) of an edge site's stack config; a clear error when it is none."""
    if config.secure:
        raise UserFacingError("rtai edge: geo-replication is set up on the open profile only (no TLS between sites)")
    if not config.edge.core_cluster:
        raise UserFacingError("rtai edge: [edge] core_cluster is empty in the stack config: this stack is no edge site")
    if config.edge.core_cluster == config.pulsar.cluster:
        raise UserFacingError(f"rtai edge: [edge] core_cluster and [pulsar] cluster are both {config.pulsar.cluster!r}")
    pulsar, edge = config.pulsar, config.edge
    return (
        Site(pulsar.cluster, pulsar.address, pulsar.broker_port, pulsar.web_port),
        Site(edge.core_cluster, edge.core_address, edge.core_broker_port, edge.core_web_port),
    )


def _call(
    method: str, site: Site, path: str, body: object | None = None, ok: tuple[int, ...] = (200, 204)
) -> httpx.Response:
    url = f"{site.admin_url}/admin/v2/{path}"
    try:
        response = httpx.request(method, url, json=body, timeout=ADMIN_TIMEOUT_S)
    except httpx.HTTPError as err:
        raise UserFacingError(f"{site.cluster}'s Pulsar at {site.admin_url}: {method} {path}: {err}") from err
    if response.status_code not in ok:
        raise UserFacingError(
            f"{site.cluster}'s Pulsar refused {method} {path}: HTTP {response.status_code} {response.text[:200]}"
        )
    return response


def _register(on: Site, other: Site) -> None:
    if _call("PUT", on, f"clusters/{other.cluster}", other.cluster_data, ok=(200, 204, 409)).status_code == 409:
        _call("POST", on, f"clusters/{other.cluster}", other.cluster_data)


def link(config: StackConfig) -> None:
    """Sets up replication of [edge] namespace from this site to the core, and its quota."""
    edge, core = sites(config)
    tenant, _ = config.edge.namespace.split("/")
    clusters = [edge.cluster, core.cluster]
    for on, other in ((edge, core), (core, edge)):
        _register(on, other)
        if _call("PUT", on, f"tenants/{tenant}", {"allowedClusters": clusters}, ok=(204, 409)).status_code == 409:
            _call("POST", on, f"tenants/{tenant}", {"allowedClusters": clusters})
        _call("PUT", on, f"namespaces/{config.edge.namespace}", ok=(204, 409))
        _call("POST", on, f"namespaces/{config.edge.namespace}/replication", clusters)
    _call(
        "POST",
        edge,
        f"namespaces/{config.edge.namespace}/backlogQuota?backlogQuotaType=destination_storage",
        {"limitSize": int(config.edge.backlog_quota_mb * 1024 * 1024), "policy": config.edge.backlog_quota_policy},
    )


@dataclass(frozen=True)
class TopicReplication:
    topic: str
    connected: bool
    backlog: int  # messages not yet sent to the core


def status(config: StackConfig) -> list[TopicReplication]:
    """Per topic of the site's namespace: whether its replicator to the core is connected and
    how many messages wait for it."""
    edge, core = sites(config)
    found = []
    for topic in _call("GET", edge, f"namespaces/{config.edge.namespace}/topics").json():
        if topic.startswith("non-persistent") or "__change_events" in topic:
            continue
        stats = _call("GET", edge, f"{topic.replace('://', '/')}/stats").json()
        replicator = stats.get("replication", {}).get(core.cluster, {})
        found.append(
            TopicReplication(topic, bool(replicator.get("connected")), int(replicator.get("replicationBacklog", 0)))
        )
    return found
