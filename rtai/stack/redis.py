"""Redis (Debian's redis-server) for the Redis online store profile."""

from __future__ import annotations

import shutil

from rtai.errors import PrerequisiteError
from rtai.stack.config import StackConfig
from rtai.stack.probes import redis_ping
from rtai.stack.service import Service, data_dir


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
