"""Redis (Debian's redis-server) for the Redis online store profile, and its Prometheus exporter
(Debian's prometheus-redis-exporter), started with it when the monitoring services run."""

from __future__ import annotations

import shutil

from rtai.errors import PrerequisiteError
from rtai.stack.config import StackConfig
from rtai.stack.probes import http_ok, redis_ping
from rtai.stack.service import Scrape, Service, data_dir


def _check_installed() -> list[str]:
    if shutil.which("redis-server") is None:
        raise PrerequisiteError(
            "redis-server not found on PATH (install it: `apt-get install redis-server`, or run `make setup-redis`)"
        )
    return []


def service(config: StackConfig) -> Service:
    port = config.redis.port
    return Service(
        name="redis",
        ports={"redis": port},
        command=[
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data_dir("redis")),
            "--daemonize",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--loglevel",
            "warning",
        ],
        ready=lambda: redis_ping(port),
        ready_timeout_s=30,
        stop_timeout_s=10,
        prepare=_check_installed,
    )


def _exporter_command(config: StackConfig) -> list[str]:
    """The whole command (the program found at start, as the monitoring services' are)."""
    found = shutil.which("prometheus-redis-exporter")
    if found is None:
        raise PrerequisiteError(
            "prometheus-redis-exporter not found on PATH: run `make setup-monitoring` "
            "(apt-get install prometheus-redis-exporter)"
        )
    return [
        found,
        f"--redis.addr=redis://127.0.0.1:{config.redis.port}",
        f"--web.listen-address=127.0.0.1:{config.redis.exporter_port}",
        "--log-format=json",
    ]


def exporter_service(config: StackConfig) -> Service:
    port = config.redis.exporter_port
    return Service(
        name="redis-exporter",
        ports={"http": port},
        command=[],
        ready=lambda: http_ok(f"http://127.0.0.1:{port}/health"),
        ready_timeout_s=30,
        stop_timeout_s=10,
        prepare=lambda: _exporter_command(config),
        metrics=Scrape("http", job="redis"),
    )
