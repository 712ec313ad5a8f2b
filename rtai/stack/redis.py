"""Redis (Debian's redis-server) for the Redis online store profile, and its Prometheus exporter
(Debian's prometheus-redis-exporter), started with it when the monitoring services run."""

from __future__ import annotations

import shutil

from rtai.errors import PrerequisiteError
from rtai.security.credentials import read_secret
from rtai.stack import secure_profile
from rtai.stack.config import StackConfig
from rtai.stack.probes import http_ok, redis_ping
from rtai.stack.service import Scrape, Service, data_dir


def require_redis_server() -> None:
    if shutil.which("redis-server") is None:
        raise PrerequisiteError(
            "redis-server not found on PATH (install it: `apt-get install redis-server`, or run `make setup-redis`)"
        )


def prepare(config: StackConfig) -> list[str]:
    """In the secure profile, the users of the credentials' ACL file (no default user)."""
    require_redis_server()
    found = secure_profile.credentials(config)
    return ["--aclfile", str(found.redis_acl)] if found else []


def _ping(config: StackConfig) -> bool:
    if not config.secure:
        return redis_ping(config.redis.port)
    password = secure_profile.stored_credentials().redis_password("feast")
    return password.is_file() and redis_ping(config.redis.port, ("feast", read_secret(password)))


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
        ready=lambda: _ping(config),
        ready_timeout_s=30,
        stop_timeout_s=10,
        prepare=lambda: prepare(config),
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


def _exporter_environment(config: StackConfig) -> dict[str, str]:
    """The exporter's own Redis user, in the secure profile (the exporter reads these variables)."""
    found = secure_profile.credentials(config)
    if found is None:
        return {}
    return {"REDIS_USER": "exporter", "REDIS_PASSWORD": read_secret(found.redis_password("exporter"))}


def exporter_service(config: StackConfig) -> Service:
    port = config.redis.exporter_port
    return Service(
        name="redis-exporter",
        ports={"http": port},
        command=[],
        env=lambda: _exporter_environment(config),
        ready=lambda: http_ok(f"http://127.0.0.1:{port}/health"),
        ready_timeout_s=30,
        stop_timeout_s=10,
        prepare=lambda: _exporter_command(config),
        metrics=Scrape("http", job="redis"),
        needs=("redis",),
    )
