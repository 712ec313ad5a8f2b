"""Feast's Redis online store for the feature job's `push.writer = "redis"` when the running stack
serves the SQLite one: Redis and a feature server on the Redis profile of a scratch copy of the
feature repository, on ports and a .run folder of their own (`rtai stack up redis feast` under a
derived stack config), stopped afterwards. With the stack already on Redis, its own are used."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from flink_jobs.errors import UserFacingError
from rtai.console import step
from rtai.stack import config as stack_config
from rtai.stack import processes
from rtai.stack.feast_repo import copy_of_definitions
from rtai.stack.profiles import STACK_CONFIG_VARIABLE

PORT_OFFSET = 20000  # apart from the stack's ports and from the tests' isolated stacks (+10000)


@dataclass(frozen=True)
class OnlineStore:
    feast_url: str  # a feature server that reads it
    redis_url: str  # for [feature_job.redis] url
    # Processes of its own, for the CPU figures ("side redis" -> pid); none when the stack's are used.
    pids: dict[str, int] = field(default_factory=dict)


def _rtai(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtai", *args], env=env, capture_output=True, text=True)


@contextmanager
def started(stack: stack_config.StackConfig, folder: Path) -> Iterator[OnlineStore]:
    if stack.feast.online_store == "redis":
        yield OnlineStore(stack.feast_url, f"redis://{stack.redis_connection_string}")
        return
    if stack.secure:
        raise UserFacingError("the Redis writer's benchmark runs on the default security profile, not the secure one")
    folder.mkdir(parents=True)
    repo = copy_of_definitions(folder)
    feast_port, redis_port = stack.feast.port + PORT_OFFSET, stack.redis.port + PORT_OFFSET
    sections = {
        "feast": {
            "feature_repo": str(repo),
            "online_store": "redis",
            "port": feast_port,
            "metrics_port": stack.feast.metrics_port + PORT_OFFSET,
            "workers": stack.feast.workers,
        },
        "redis": {"port": redis_port, "exporter_port": stack.redis.exporter_port + PORT_OFFSET},
    }
    config_file = folder / "stack.toml"
    config_file.write_text(tomli_w.dumps(sections))
    env = {**os.environ, STACK_CONFIG_VARIABLE: str(config_file), "RTAI_RUN_DIR": str(folder / "run")}
    step(f"starting Redis and a feature server on the Redis profile (ports {redis_port}, {feast_port})")
    try:
        up = _rtai(env, "stack", "up", "redis", "feast")
        if up.returncode != 0:
            raise UserFacingError(f"starting Redis and its feature server failed:\n{up.stderr[-2000:]}")
        pids = {
            f"side {name}": record.pid
            for name in ("redis", "feast")
            if (record := processes.read_pid_file(folder / "run" / "pids" / f"{name}.pid"))
        }
        yield OnlineStore(f"http://127.0.0.1:{feast_port}", f"redis://127.0.0.1:{redis_port}", pids)
    finally:
        _rtai(env, "stack", "down", "redis", "feast")
