"""The stack's services in start order, and which of them a command acts on."""

from __future__ import annotations

from rtai.stack import feast_server, flink_cluster, monitoring, pulsar, redis, scoring_api, triton, zookeeper
from rtai.stack.config import StackConfig
from rtai.stack.service import Service

CORE = ("pulsar", "feast", "triton")
MONITORING = ("alert-webhook", "alertmanager", "prometheus")


def all_services(config: StackConfig) -> list[Service]:
    """Every service the stack knows, in start order (stop order is the reverse)."""
    return [
        redis.service(config),
        pulsar.service(config),
        feast_server.service(config),
        triton.service(config),
        zookeeper.service(config),
        *flink_cluster.services(config),
        redis.exporter_service(config),
        scoring_api.service(config),
        *monitoring.services(config, lambda: all_services(config)),
    ]


def selected(
    config: StackConfig,
    *,
    with_redis: bool = False,
    with_flink: bool = False,
    with_monitoring: bool = False,
    with_api: bool = False,
    only: list[str] | None = None,
) -> list[Service]:
    services = all_services(config)
    if only:
        unknown = sorted(set(only) - {s.name for s in services})
        if unknown:
            raise ValueError(f"unknown service {unknown[0]!r} (known: {', '.join(s.name for s in services)})")
        if config.flink.high_availability == "zookeeper" and "flink-jobmanager" in only:
            only = [*only, "zookeeper"]  # the JobManager's high availability needs it
        return [s for s in services if s.name in only]
    wanted = set(CORE) if config.triton.enabled else set(CORE) - {"triton"}
    if with_redis or config.redis.enabled or config.feast.online_store == "redis":
        wanted.add("redis")
    if with_flink or config.flink.enabled:
        wanted.update((flink_cluster.JOBMANAGER, "flink-job-watch"))
        wanted.update(flink_cluster.taskmanager_name(n) for n in range(1, flink_cluster.taskmanager_count(config) + 1))
        if config.flink.high_availability == "zookeeper":
            wanted.add("zookeeper")
    if with_api:
        wanted.add(scoring_api.NAME)
    if with_monitoring or config.monitoring.enabled:
        wanted.update(MONITORING)
        if "redis" in wanted:
            wanted.add("redis-exporter")
    return [s for s in services if s.name in wanted]
