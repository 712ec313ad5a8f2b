"""Flink's Prometheus reporter for the cluster's processes and for local (MiniCluster) jobs.

The reporter ships in the PyFlink wheel's plugins/metrics-prometheus. Label values keep their
characters (Flink's default replaces every character outside [a-zA-Z0-9:_], which would turn a
histogram's `le="0.5"` into `0_5`; flink_jobs/metrics.py builds histograms on that label).

A local job's port is picked free at its start; the job is announced to Prometheus by a file in
the file_sd folder (infra/prometheus/prometheus.yml), removed when the job stops. The
MiniCluster loads reporters from its class path only (not from plugins/), so a local job's JVM
gets a lib folder with the reporter's jar beside the wheel's (local_lib_dir).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

from rtai import paths
from rtai.stack import flink_cluster

REPORTER = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"


def settings(port: int) -> dict[str, str]:
    return {
        "metrics.reporter.prom.factory.class": REPORTER,
        "metrics.reporter.prom.port": str(port),
        "metrics.reporter.prom.filterLabelValueCharacters": "false",
    }


def dynamic_properties(port: int) -> list[str]:
    """The settings as Flink command-line dynamic properties (`-D key=value`)."""
    return [arg for key, value in settings(port).items() for arg in ("-D", f"{key}={value}")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def targets_dir() -> Path:
    """Prometheus's file_sd folder for local jobs."""
    return paths.RUN_DIR / "data" / "prometheus" / "local-jobs"


def announce(name: str, port: int) -> Path:
    """Writes the local job's scrape target; the file's path."""
    targets_dir().mkdir(parents=True, exist_ok=True)
    target = targets_dir() / f"{name}.json"
    entry = [{"targets": [f"127.0.0.1:{port}"], "labels": {"flink_process": "local", "run": name}}]
    target.write_text(json.dumps(entry))
    return target


def local_lib_dir() -> Path:
    """FLINK_LIB_DIR for local jobs: links to the wheel's lib/ jars and the Prometheus reporter."""
    home = flink_cluster.flink_home()
    folder = paths.RUN_DIR / "data" / "flink-local" / "lib"
    folder.mkdir(parents=True, exist_ok=True)
    jars = [*(home / "lib").glob("*.jar"), *(home / "plugins" / "metrics-prometheus").glob("*.jar")]
    for jar in jars:
        link = folder / jar.name
        if not link.is_symlink() or link.resolve() != jar.resolve():
            link.unlink(missing_ok=True)
            link.symlink_to(jar)
    return folder
