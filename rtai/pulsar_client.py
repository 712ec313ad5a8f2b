"""The one place that opens a pulsar-client `Client` (the generator, the demo, the benchmarks,
the tests); the jobs themselves reach Pulsar through the Flink connector."""

from __future__ import annotations

import pulsar


def connect(service_url: str) -> pulsar.Client:
    """A client of the broker at service_url (a pipeline's `[pulsar] service_url` or the stack's),
    logging only warnings and errors."""
    return pulsar.Client(service_url, logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn))
