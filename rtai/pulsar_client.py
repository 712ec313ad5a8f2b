"""The one place that opens a pulsar-client `Client` (the generator, the demo, the benchmarks,
the tests); the jobs themselves reach Pulsar through the Flink connector."""

from __future__ import annotations

from pathlib import Path

import pulsar

from flink_jobs.config.secret_source import SecretSource
from rtai.security.credentials import read_secret


def connect(
    service_url: str,
    log_file: Path | None = None,
    *,
    token_file: Path | None = None,
    tls_trust_certs_file: str = "",
    token: SecretSource | None = None,
) -> pulsar.Client:
    """A client of the broker at service_url (a pipeline's `[pulsar] service_url` or the stack's),
    logging only warnings and errors, to the console or to `log_file`; as the role whose token
    is in token_file (or a pipeline config's `token`), trusting the CA in tls_trust_certs_file
    (pulsar+ssl://), when given (secure_profile.pulsar_client_options gives both for a role of the
    stack's secure profile)."""
    level = pulsar.LoggerLevel.Warn
    logger = pulsar.FileLogger(level, str(log_file)) if log_file else pulsar.ConsoleLogger(level)
    options: dict[str, object] = {}
    if token_file is not None:
        options["authentication"] = pulsar.AuthenticationToken(read_secret(token_file))
    elif token is not None and token.configured:
        options["authentication"] = pulsar.AuthenticationToken(token.read("pulsar_token"))
    if tls_trust_certs_file:
        options["tls_trust_certs_file_path"] = tls_trust_certs_file
    return pulsar.Client(service_url, logger=logger, **options)


# A batch closes after this long: the client's default (10 ms) would add up to 10 ms to the
# latency of every event sent at a low rate.
INPUT_BATCH_DELAY_MS = 1


def input_producer(client: pulsar.Client, topic: str, **options: object) -> pulsar.Producer:
    """A producer for a job's input topic, batched: the broker spends about a quarter of the CPU
    per event on a batched stream (bench/README.md). Any producer will do for the jobs, batched or
    not: their source resumes a checkpoint taken inside a batch inside it
    (BatchResumingPulsarSource), and their backlog is counted in messages, not batches
    (SubscriptionBacklog.java, rtai.subscription_stats.backlog)."""
    return client.create_producer(
        topic, batching_enabled=True, batching_max_publish_delay_ms=INPUT_BATCH_DELAY_MS, **options
    )
