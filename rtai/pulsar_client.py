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


def input_producer(client: pulsar.Client, topic: str, **options: object) -> pulsar.Producer:
    """A producer for a job's input topic: unbatched. The jobs restore correctly from any producer,
    batched or not (BatchResumingPulsarSource), but Pulsar counts a subscription's backlog in
    entries, not messages (PIP-216 is still open): on batched input the source's pendingRecords
    and the scaling loop's backlog rule would count batches, not events. Batching would save the
    broker about three quarters of its CPU per event (bench/README.md)."""
    return client.create_producer(topic, batching_enabled=False, **options)
