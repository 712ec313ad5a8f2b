"""Flink's Prometheus reporter for the cluster's processes and for local (MiniCluster) jobs.

The reporter ships in the PyFlink wheel's plugins/metrics-prometheus. Label values keep their
characters (Flink's default replaces every character outside [a-zA-Z0-9:_], which would turn a
histogram's `le="0.5"` into `0_5`; flink_jobs/metrics.py builds histograms on that label).

A local job's port is picked free at its start (rtai.jobs.launcher); the job is announced to
Prometheus by a file in the local-jobs file_sd folder (rtai.stack.scrape_targets), removed when
the job stops.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

from rtai.stack import scrape_targets

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


def announce(name: str, port: int) -> Path:
    """Writes the local job's scrape target; the file's path."""
    scrape_targets.local_jobs_dir().mkdir(parents=True, exist_ok=True)
    target = scrape_targets.local_jobs_dir() / f"{name}.json"
    entry = [{"targets": [f"127.0.0.1:{port}"], "labels": {"flink_process": "local", "run": name}}]
    target.write_text(json.dumps(entry))
    return target
