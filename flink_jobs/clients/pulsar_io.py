"""Pulsar sources and sinks for the jobs, built on the Flink Pulsar connector."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from py4j.java_gateway import JavaObject
from pyflink.common import WatermarkStrategy
from pyflink.common.serialization import DeserializationSchema, SimpleStringSchema
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.datastream.connectors.base import DeliveryGuarantee, Source
from pyflink.datastream.connectors.pulsar import (
    PulsarSink,
    PulsarSource,
    StartCursor,
    TopicRoutingMode,
)

from flink_jobs.config.pipeline_config import JobRuntime, PipelineConfig, PulsarSection
from flink_jobs.config.secret_source import SecretSource, existing_file
from flink_jobs.config.topics import full_name
from flink_jobs.errors import UserFacingError
from flink_jobs.java_operators import project_class

# The project's own deserializer and source (java/, built by `make setup` into the connector's jar folder).
REDELIVERY_FILTER = "io.github.pyflinkrealtimeai.pulsar.RedeliveryFilteringStringSchema"
BATCH_RESUMING_SOURCE = "io.github.pyflinkrealtimeai.pulsar.BatchResumingPulsarSource"
START_CURSORS = {"earliest": StartCursor.earliest, "latest": StartCursor.latest}
GUARANTEES = {
    "at-least-once": DeliveryGuarantee.AT_LEAST_ONCE,
    "exactly-once": DeliveryGuarantee.EXACTLY_ONCE,
}


# The Pulsar client's own token authentication; its parameter is `file:///path` (read by the
# client, so the token is in no Flink config) or `token:<value>` (from an environment variable).
TOKEN_AUTH_PLUGIN = "org.apache.pulsar.client.impl.auth.AuthenticationToken"


@dataclass(frozen=True)
class PulsarEndpoint:
    service_url: str  # pulsar://host:6650 or pulsar+ssl://host:6651
    admin_url: str  # http://host:8080 or https://host:8443
    tls_trust_certs_file: str = ""  # PEM; "" trusts the system's CAs
    token_auth_params: str = ""  # "" is no authentication

    @classmethod
    def of(cls, pulsar: PulsarSection, token: SecretSource, job_section: str) -> PulsarEndpoint:
        """The endpoint a pipeline config's [pulsar] section and a job's pulsar_token describe."""
        what = f"{job_section}.pulsar_token"
        if not token.configured:
            params = ""
        elif token.file:
            token.read(what)  # a missing or empty file fails here, at start, naming the field
            params = token.path().as_uri()
        else:
            params = f"token:{token.read(what)}"
        return cls(
            pulsar.service_url,
            pulsar.admin_url,
            existing_file(pulsar.tls_trust_certs_file, "pulsar.tls_trust_certs_file"),
            params,
        )

    @classmethod
    def of_job(cls, config: PipelineConfig, job: JobRuntime) -> PulsarEndpoint:
        """The endpoint of one of the pipeline's jobs, with its own token (`[<job section>] pulsar_token`)."""
        return cls.of(config.pulsar, job.pulsar_token, config.section_name(job))

    def client_settings(self) -> dict[str, str]:
        """The connector's settings for TLS trust (the source's and sink's, client and admin)."""
        if not self.tls_trust_certs_file:
            return {}
        return {"pulsar.client.tlsTrustCertsFilePath": self.tls_trust_certs_file}


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


def redelivery_filtering_strings(endpoint: PulsarEndpoint) -> JavaObject:
    """Message values as UTF-8 strings, without what the broker delivers again to the running
    reader after a reconnect (see the Java class): the connector itself would emit it twice. It
    reports the source's pendingRecords too, the subscription's backlog read from `endpoint`'s
    admin API."""
    java_class = project_class(REDELIVERY_FILTER)
    return java_class(endpoint.admin_url, endpoint.tls_trust_certs_file, endpoint.token_auth_params)


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
    fetch_idle_ms: int = 0,
) -> DataStream:
    """Message values as UTF-8 strings, each once per run, unbounded, from producers that batch or
    not: a restore from a checkpoint inside a batch resumes inside it (BatchResumingPulsarSource).
    A fetch hands its records on after max_fetch_records or max_fetch_time_ms, whichever comes
    first: the connector's default of 10 s would hold a quiet topic's events back for up to 10 s.
    fetch_idle_ms (pulsar.source.fetchOneMessageTime): a fetch also ends when no next message came
    within that long, so at a low rate a message does not wait out max_fetch_time_ms for company
    (0: the connector's default, waiting for the next message up to the fetch's end)."""
    schema = redelivery_filtering_strings(endpoint)
    builder = (
        PulsarSource.builder()
        .set_service_url(endpoint.service_url)
        .set_admin_url(endpoint.admin_url)
        .set_topics(full_name(topic))
        .set_subscription_name(subscription)
        .set_start_cursor(START_CURSORS[start]())
        # py4j picks the builder's setDeserializationSchema(PulsarDeserializationSchema) for it.
        .set_deserialization_schema(DeserializationSchema(schema))
        .set_properties(
            {
                "pulsar.source.maxFetchTime": str(max_fetch_time_ms),
                "pulsar.source.maxFetchRecords": str(max_fetch_records),
                **({"pulsar.source.fetchOneMessageTime": str(fetch_idle_ms)} if fetch_idle_ms else {}),
                **endpoint.client_settings(),
            }
        )
    )
    if endpoint.token_auth_params:
        builder.set_authentication(TOKEN_AUTH_PLUGIN, endpoint.token_auth_params)
    source = Source(project_class(BATCH_RESUMING_SOURCE)(builder.build().get_java_function(), schema))
    # The uid keys the source's state (its splits and positions) in checkpoints and savepoints.
    return env.from_source(source, WatermarkStrategy.no_watermarks(), name).uid(name)


def string_sink(
    endpoint: PulsarEndpoint, topic: str, *, guarantee: str = "at-least-once", transaction_timeout_ms: int = 60_000
) -> PulsarSink:
    """A sink of UTF-8 strings; `exactly-once` writes in Pulsar transactions committed on checkpoints.
    A transaction a killed job leaves open holds back every later message of the topic for its
    consumers until the broker aborts it after transaction_timeout_ms (the connector's default: 3 h)."""
    builder = (
        PulsarSink.builder()
        .set_service_url(endpoint.service_url)
        .set_admin_url(endpoint.admin_url)
        .set_topics(full_name(topic))
        .set_serialization_schema(SimpleStringSchema())
        .set_delivery_guarantee(GUARANTEES[guarantee])
        .set_topic_routing_mode(TopicRoutingMode.ROUND_ROBIN)
        .set_config("pulsar.sink.transactionTimeoutMillis", str(transaction_timeout_ms))
    )
    for key, value in endpoint.client_settings().items():
        builder.set_config(key, value)
    if endpoint.token_auth_params:
        builder.set_authentication(TOKEN_AUTH_PLUGIN, endpoint.token_auth_params)
    return builder.build()
