"""What every benchmark result states: the machine, the versions, and where the figures go."""

from __future__ import annotations

import json
import os
import platform
import re
import socket
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import psutil

from rtai import paths
from rtai.bootstrap import java_artifacts

RESULTS_DIR = paths.PROJECT_ROOT / "bench" / "results"
CONNECTOR_POM = paths.INFRA_DIR / "maven" / "flink-connectors" / "pom.xml"


def machine() -> dict[str, object]:
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    return {
        "host": socket.gethostname(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": cpu.group(1).strip() if cpu else platform.processor(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def versions() -> dict[str, str]:
    feast_pin = re.search(r"^feast\[[^\]]*\]==(\S+)", (paths.ENVS_DIR / "feast.in").read_text(), re.MULTILINE)
    return {
        "apache-flink": metadata.version("apache-flink"),
        "flink-connector-pulsar": java_artifacts.pom_property(CONNECTOR_POM, "flink.pulsar.connector.version"),
        "pulsar": java_artifacts.pulsar_version(),
        "pulsar-client": metadata.version("pulsar-client"),
        "feast": feast_pin.group(1) if feast_pin else "unknown",
    }


def percentiles_ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"count": len(values), "p50": round(p50, 1), "p95": round(p95, 1), "p99": round(p99, 1), "max": max(values)}


def _plain(value: object) -> object:
    """numpy scalars (a percentile, a comparison of one) as the Python numbers and booleans they hold."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def write(name: str, result: dict[str, object]) -> Path:
    """bench/results/<date>-<host>-<name>.json (<date>-<host>.json without a name), with the
    machine and versions added; a later run the same day gets -2, -3, ... (never overwritten)."""
    now = datetime.now(UTC)
    stamp = now.isoformat(timespec="seconds")
    document = {"benchmark": name or "end-to-end", "at": stamp, "machine": machine(), **result}
    document.setdefault("versions", versions())
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = f"{now:%Y-%m-%d}-{socket.gethostname()}{f'-{name}' if name else ''}"
    path = RESULTS_DIR / f"{stem}.json"
    run = 1
    while path.exists():
        run += 1
        path = RESULTS_DIR / f"{stem}-{run}.json"
    path.write_text(json.dumps(document, indent=2, default=_plain) + "\n")
    return path
