"""The tests' container mode (`pytest --stack=containers`): Pulsar, Redis, the Feast server and
Triton run from the project's images (infra/docker, `make images`) through the testcontainers
package, on the same ports and files as the process stack, so the tests and the jobs (still local
processes) reach them at the same addresses.

The containers share the host's network (each service binds 127.0.0.1 on its configured port, as
its process does), the Feast server mounts the configured feature repository (its registry and
online store under data/, written as the calling user) and Triton the model repository (models
are registered on the host and loaded through its repository API). Readiness is each image's own
health check; a failing test gets every running container's log attached."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from rtai import paths
from rtai.stack.config import StackConfig

# No registry is reachable for testcontainers' reaper image: containers are stopped by the fixtures.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

from testcontainers.core.container import DockerContainer

IMAGES_ENV = paths.INFRA_DIR / "docker" / "images.env"
# The services that have an image; the others (Flink, ZooKeeper, monitoring) stay processes.
CONTAINER_SERVICES = ("pulsar", "redis", "feast", "triton")
LOG_TAIL_LINES = 60

# The containers running now, by service, for the logs a failing test gets.
RUNNING: dict[str, DockerContainer] = {}


class ContainerNotHealthy(RuntimeError):
    pass


def images() -> dict[str, str]:
    """infra/docker/images.env: KEY=VALUE lines."""
    pairs = (line.split("=", 1) for line in IMAGES_ENV.read_text().splitlines() if "=" in line and line[0] != "#")
    return {key.strip(): value.strip() for key, value in pairs}


def _container(image: str) -> DockerContainer:
    return DockerContainer(image).with_kwargs(network_mode="host")


def pulsar(config: StackConfig) -> DockerContainer:
    p = config.pulsar
    return _container(images()["PULSAR_IMAGE"]).with_envs(
        PULSAR_BROKER_PORT=str(p.broker_port),
        PULSAR_WEB_PORT=str(p.web_port),
        PULSAR_BOOKIE_PORT=str(p.bookie_port),
        PULSAR_MEM=f"-Xms256m -Xmx{p.heap} -XX:MaxDirectMemorySize={p.heap}",
    )


def redis(config: StackConfig) -> DockerContainer:
    return _container(images()["REDIS_IMAGE"]).with_env("REDIS_PORT", str(config.redis.port))


def feast(config: StackConfig) -> DockerContainer:
    f = config.feast
    repo = f.repo_path()
    (repo / "data").mkdir(exist_ok=True)
    return (
        _container(images()["FEAST_IMAGE"])
        .with_envs(
            FEAST_PORT=str(f.port),
            FEAST_METRICS_PORT=str(f.metrics_port),
            FEAST_WORKERS=str(f.workers),
            FEAST_FEATURE_STORE_YAML=f.feature_store_yaml().name,
            REDIS_CONNECTION_STRING=config.redis_connection_string,
        )
        .with_volume_mapping(str(repo), "/opt/feature_repo", "rw")
        # Files the server and `feast apply` write in the mounted repository stay the caller's.
        .with_env("HOME", "/tmp")
        .with_kwargs(network_mode="host", user=f"{os.getuid()}:{os.getgid()}")
    )


def triton(config: StackConfig) -> DockerContainer:
    t = config.triton
    return (
        _container(images()["TRITON_IMAGE"])
        .with_envs(
            TRITON_HTTP_PORT=str(t.http_port),
            TRITON_GRPC_PORT=str(t.grpc_port),
            TRITON_METRICS_PORT=str(t.metrics_port),
        )
        .with_volume_mapping(str(t.repository_path()), "/models", "ro")
        # The python backend's stubs talk to the server through shared memory (Docker's default: 64 MB).
        .with_kwargs(network_mode="host", shm_size="1g")
    )


FACTORIES = {"pulsar": pulsar, "redis": redis, "feast": feast, "triton": triton}


def health(container: DockerContainer) -> str:
    wrapped = container.get_wrapped_container()
    wrapped.reload()
    state = wrapped.attrs["State"]
    if state["Status"] != "running":
        return state["Status"]
    return state.get("Health", {}).get("Status", "no health check")


def log_tail(container: DockerContainer, lines: int = LOG_TAIL_LINES) -> str:
    out = container.get_wrapped_container().logs(tail=lines)
    return out.decode(errors="replace")


def wait_healthy(name: str, container: DockerContainer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while (status := health(container)) != "healthy":
        if status in ("exited", "dead", "unhealthy") or time.monotonic() > deadline:
            raise ContainerNotHealthy(
                f"the {name} container is {status} after {timeout_s:.0f} s; its log ends:\n{log_tail(container)}"
            )
        time.sleep(1)


@contextmanager
def started(config: StackConfig, services: list[str]) -> Iterator[dict[str, DockerContainer]]:
    """The containers of `services` (those with an image), started in order and healthy; stopped
    and removed after."""
    timeouts = {
        "pulsar": config.pulsar.ready_timeout_s,
        "redis": 30,
        "feast": config.feast.ready_timeout_s,
        "triton": config.triton.ready_timeout_s,
    }
    with ExitStack() as stack:
        running: dict[str, DockerContainer] = {}
        for name in services:
            container = FACTORIES[name](config)
            stack.enter_context(container)
            running[name] = RUNNING[name] = container
            stack.callback(RUNNING.pop, name, None)
            wait_healthy(name, container, timeouts[name])
        yield running


def split(services: list[str]) -> tuple[list[str], list[str]]:
    """(services run as containers, services run as processes), each in the given order."""
    return [s for s in services if s in CONTAINER_SERVICES], [s for s in services if s not in CONTAINER_SERVICES]
