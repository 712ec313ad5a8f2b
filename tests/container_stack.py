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
LOG_TAIL_LINES = 60

# The containers running now, by service and port (`key`): for stop and start, and the logs a
# failing test gets.
RUNNING: dict[str, DockerContainer] = {}


class ContainerNotHealthy(RuntimeError):
    pass


def images() -> dict[str, str]:
    """infra/docker/images.env: KEY=VALUE lines."""
    pairs = (line.split("=", 1) for line in IMAGES_ENV.read_text().splitlines() if "=" in line and line[0] != "#")
    return {key.strip(): value.strip() for key, value in pairs}


class StackContainer(DockerContainer):
    """A service of the stack from its image (IMAGE_KEY in images.env), on the host's network."""

    IMAGE_KEY = ""

    def __init__(self, **run_options: object) -> None:
        super().__init__(images()[self.IMAGE_KEY])
        self.with_kwargs(network_mode="host", **run_options)


class PulsarContainer(StackContainer):
    IMAGE_KEY = "PULSAR_IMAGE"

    def __init__(self, config: StackConfig) -> None:
        super().__init__()
        p = config.pulsar
        self.with_envs(
            PULSAR_BROKER_PORT=str(p.broker_port),
            PULSAR_WEB_PORT=str(p.web_port),
            PULSAR_BOOKIE_PORT=str(p.bookie_port),
            PULSAR_MEM=f"-Xms256m -Xmx{p.heap} -XX:MaxDirectMemorySize={p.heap}",
        )


class RedisContainer(StackContainer):
    IMAGE_KEY = "REDIS_IMAGE"

    def __init__(self, config: StackConfig) -> None:
        super().__init__()
        self.with_env("REDIS_PORT", str(config.redis.port))


class FeastContainer(StackContainer):
    IMAGE_KEY = "FEAST_IMAGE"

    def __init__(self, config: StackConfig) -> None:
        # Files the server and `feast apply` write in the mounted repository stay the caller's.
        super().__init__(user=f"{os.getuid()}:{os.getgid()}")
        f = config.feast
        repo = f.repo_path()
        (repo / "data").mkdir(exist_ok=True)
        self.with_envs(
            FEAST_PORT=str(f.port),
            FEAST_METRICS_PORT=str(f.metrics_port),
            FEAST_WORKERS=str(f.workers),
            FEAST_FEATURE_STORE_YAML=f.feature_store_yaml().name,
            REDIS_CONNECTION_STRING=config.redis_connection_string,
            HOME="/tmp",
        )
        self.with_volume_mapping(str(repo), "/opt/feature_repo", "rw")


class TritonContainer(StackContainer):
    IMAGE_KEY = "TRITON_IMAGE"

    def __init__(self, config: StackConfig) -> None:
        # The python backend's stubs talk to the server through shared memory (Docker's default: 64 MB).
        super().__init__(shm_size="1g")
        t = config.triton
        self.with_envs(
            TRITON_HTTP_PORT=str(t.http_port),
            TRITON_GRPC_PORT=str(t.grpc_port),
            TRITON_METRICS_PORT=str(t.metrics_port),
        )
        self.with_volume_mapping(str(t.repository_path()), "/models", "ro")


CONTAINERS: dict[str, type[StackContainer]] = {
    "pulsar": PulsarContainer,
    "redis": RedisContainer,
    "feast": FeastContainer,
    "triton": TritonContainer,
}
# The services that have an image; the others (Flink, ZooKeeper, monitoring) stay processes.
CONTAINER_SERVICES = tuple(CONTAINERS)


def key(config: StackConfig, name: str) -> str:
    """A service's container among the running ones: its name and its stack's port for it."""
    port = {
        "pulsar": config.pulsar.broker_port,
        "redis": config.redis.port,
        "feast": config.feast.port,
        "triton": config.triton.http_port,
    }[name]
    return f"{name}@{port}"


def ready_timeout_s(config: StackConfig, name: str) -> float:
    return {
        "pulsar": config.pulsar.ready_timeout_s,
        "redis": 30,
        "feast": config.feast.ready_timeout_s,
        "triton": config.triton.ready_timeout_s,
    }[name]


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
    with ExitStack() as stack:
        running: dict[str, DockerContainer] = {}
        for name in services:
            container = CONTAINERS[name](config)
            stack.enter_context(container)
            running[name] = RUNNING[key(config, name)] = container
            stack.callback(RUNNING.pop, key(config, name), None)
            wait_healthy(name, container, ready_timeout_s(config, name))
        yield running


def stop(config: StackConfig, name: str, *, kill: bool) -> None:
    """The service's container stopped (`docker stop`: SIGTERM, then SIGKILL after its grace) or
    killed (`docker kill`: SIGKILL); it stays, with its data, for `start`."""
    wrapped = RUNNING[key(config, name)].get_wrapped_container()
    if kill:
        wrapped.kill()
    else:
        wrapped.stop(timeout=30)


def start(config: StackConfig, name: str) -> None:
    """A stopped or killed service's container started again on its data, until healthy."""
    container = RUNNING[key(config, name)]
    container.get_wrapped_container().start()
    wait_healthy(name, container, ready_timeout_s(config, name))


def split(services: list[str]) -> tuple[list[str], list[str]]:
    """(services run as containers, services run as processes), each in the given order."""
    return [s for s in services if s in CONTAINER_SERVICES], [s for s in services if s not in CONTAINER_SERVICES]
