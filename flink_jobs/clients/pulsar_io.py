"""Pulsar sources and sinks for the jobs, built on the Flink Pulsar connector."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from pyflink.common import WatermarkStrategy
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.connectors.pulsar import (
    PulsarSink,
    PulsarSource,
    StartCursor,
    TopicRoutingMode,
)

from flink_jobs.config.topics import full_name
from flink_jobs.errors import UserFacingError

START_CURSORS = {"earliest": StartCursor.earliest, "latest": StartCursor.latest}
GUARANTEES = {
    "at-least-once": DeliveryGuarantee.AT_LEAST_ONCE,
    "exactly-once": DeliveryGuarantee.EXACTLY_ONCE,
}


@dataclass(frozen=True)
class PulsarEndpoint:
    service_url: str  # pulsar://host:6650
    admin_url: str  # http://host:8080


def add_connector_jars(env: StreamExecutionEnvironment, jar_dir: Path) -> None:
    """For local runs (MiniCluster): the connector's jars from jar_dir (`make setup` fetches them into
    .cache/jars/flink-connectors). A cluster started by the stack has them in its lib/ already: jobs
    submitted there pass --connector-from-classpath."""
    jars = sorted(jar_dir.glob("*.jar"))
    if not jars:
        raise UserFacingError(
            f"no Flink Pulsar connector jars in {jar_dir}: run `make setup`, or pass --connector-jars DIR "
            "(or --connector-from-classpath on a cluster that has them)"
        )
    env.add_jars(*(jar.resolve().as_uri() for jar in jars))
    # Python workers of a local run use this interpreter (the flink environment).
    env.set_python_executable(sys.executable)


def string_source(
    env: StreamExecutionEnvironment,
    endpoint: PulsarEndpoint,
    topic: str,
    subscription: str,
    *,
    start: str = "earliest",
    name: str = "pulsar-source",
    max_fetch_time_ms: int = 100,
    max_fetch_records: int = 500,
) -> DataStream:
    """Message values as UTF-8 strings, unbounded. A fetch hands its records on after
    max_fetch_records or max_fetch_time_ms, whichever comes first: the connector's default of
    10 s would hold a quiet topic's events back for up to 10 s."""
    builder = (
        PulsarSource.builder()
        .set_service_url(endpoint.service_url)
        .set_admin_url(endpoint.admin_url)
        .set_topics(full_name(topic))
        .set_subscription_name(subscription)
        .set_start_cursor(START_CURSORS[start]())
        .set_deserialization_schema(SimpleStringSchema())
        .set_properties(
            {
                "pulsar.source.maxFetchTime": str(max_fetch_time_ms),
                "pulsar.source.maxFetchRecords": str(max_fetch_records),
            }
        )
    )
    # The uid keys the source's state (its splits and positions) in checkpoints and savepoints.
    return env.from_source(builder.build(), WatermarkStrategy.no_watermarks(), name).uid(name)


def string_sink(
    endpoint: PulsarEndpoint, topic: str, *, guarantee: str = "at-least-once", transaction_timeout_ms: int = 60_000
) -> PulsarSink:
    """A sink of UTF-8 strings; `exactly-once` writes in Pulsar transactions committed on checkpoints.
    A transaction a killed job leaves open holds back every later message of the topic for its
    consumers until the broker aborts it after transaction_timeout_ms (the connector's default: 3 h)."""
    return (
        PulsarSink.builder()
        .set_service_url(endpoint.service_url)
        .set_admin_url(endpoint.admin_url)
        .set_topics(full_name(topic))
        .set_serialization_schema(SimpleStringSchema())
        .set_delivery_guarantee(GUARANTEES[guarantee])
        .set_topic_routing_mode(TopicRoutingMode.ROUND_ROBIN)
        .set_config("pulsar.sink.transactionTimeoutMillis", str(transaction_timeout_ms))
        .build()
    )
