"""What the stack needs to know to run one service as a local process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rtai import paths


@dataclass(frozen=True)
class Scrape:
    """Where Prometheus reads a service's metrics: one of its ports, a path, the `job` label."""

    port_role: str
    job: str
    path: str = "/metrics"


@dataclass(frozen=True)
class Service:
    name: str
    ports: dict[str, int]  # role -> port, e.g. {"broker": 6650, "http": 8080}
    command: list[str]
    ready: Callable[[], bool]  # a real health check against the running service
    ready_timeout_s: float
    stop_timeout_s: float = 30.0
    # Added to the stack's environment; a callable is called at each start (secrets read then).
    env: dict[str, str] | Callable[[], dict[str, str]] = field(default_factory=dict)
    cwd: Path = paths.PROJECT_ROOT
    # Runs just before the start: checks prerequisites, writes config files, and
    # returns arguments to append to the command for this start.
    prepare: Callable[[], list[str]] | None = None
    # Runs after a stop, told whether the service exited by itself within the timeout.
    after_stop: Callable[[bool], None] | None = None
    # Started under rtai.stack.supervisor: restarted when it exits without a stop.
    supervised: bool = False
    # Announced to the stack's Prometheus once ready (rtai.stack.scrape_targets).
    metrics: Scrape | None = None
    # Services started by the same `up` that must be ready before this one starts; the others
    # start at once (rtai.stack.manager.up).
    needs: tuple[str, ...] = ()

    @property
    def log_file(self) -> Path:
        return paths.RUN_DIR / "logs" / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return paths.RUN_DIR / "pids" / f"{self.name}.pid"

    @property
    def data_dir(self) -> Path:
        return data_dir(self.name)


def data_dir(name: str) -> Path:
    return paths.RUN_DIR / "data" / name
