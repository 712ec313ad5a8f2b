"""The project's Java classes in a JVM of their own (PyFlink's gateway), for tests that drive them
without a Flink job."""

from __future__ import annotations

from pyflink.java_gateway import get_gateway
from pyflink.util.java_utils import add_jars_to_context_class_loader

from rtai.bootstrap.java_artifacts import PROJECT_JAR


def load() -> None:
    """Starts the gateway's JVM and puts the project's jar on its class path."""
    assert PROJECT_JAR.is_file(), f"{PROJECT_JAR} is missing: run `make setup`"
    get_gateway()
    add_jars_to_context_class_loader([PROJECT_JAR.as_uri()])
