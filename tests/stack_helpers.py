"""Running the project's CLI and extra, isolated stacks (own ports, own .run folder) from tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pulsar
import tomli_w

from flink_jobs.config.topics import full_name
from flink_jobs.stages.features.card_windows import FEATURE_NAMES
from flink_jobs.stages.inference.request_features import REQUEST_FEATURES
from rtai.features.batch_stats import CARD_STATS, MERCHANT_STATS
from rtai.stack import config as stack_config
from rtai.stack import feast_repo, processes
from tests import container_stack
from tests.onnx_models import write_columns_model

# Set by tests/conftest.py from `pytest --stack=process|containers`.
STACK_MODE_VARIABLE = "RTAI_TEST_STACK"

# An isolated stack listens on the default ports plus this offset, so it can run beside the
# session's stack (and beside a developer's `make up`).
PORT_OFFSET = 10000


def cli(
    *args: str, env: dict[str, str] | None = None, inherit_env: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`rtai ARGS` in a child process; `env` is added to this process's environment, or replaces it."""
    return subprocess.run(
        [sys.executable, "-m", "rtai", *args],
        env={**os.environ, **(env or {})} if inherit_env else env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def isolated_stack_toml(overrides: dict[str, dict[str, object]] | None = None) -> str:
    """A stack.toml on the offset ports; `overrides` sets keys per section."""
    o = PORT_OFFSET
    sections: dict[str, dict[str, object]] = {
        "pulsar": {
            "broker_port": 6650 + o,
            "web_port": 8080 + o,
            "broker_tls_port": 6651 + o,
            "web_tls_port": 8443 + o,
            "bookie_port": 3181 + o,
        },
        "triton": {"http_port": 8000 + o, "grpc_port": 8001 + o, "metrics_port": 8002 + o},
        "feast": {"port": 6566 + o, "metrics_port": 6567 + o, "workers": 1},
        "redis": {"port": 6379 + o, "exporter_port": 9121 + o},
        "flink": {
            "rest_port": 8081 + o,
            "rpc_port": 6123 + o,
            "jobmanager_metrics_port": 9249 + o,
            "taskmanager_metrics_port": 9250 + o,
            "job_watch_port": 9251 + o,
            "taskmanager_slots": 2,
        },
        "zookeeper": {"port": 2181 + o},
        "monitoring": {"prometheus_port": 9090 + o, "alertmanager_port": 9093 + o, "webhook_port": 9095 + o},
    }
    for name, values in (overrides or {}).items():
        sections.setdefault(name, {}).update(values)
    return "\n".join(
        f"[{name}]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())
        for name, values in sections.items()
    )


@dataclass(frozen=True)
class IsolatedStack:
    config: stack_config.StackConfig
    env: dict[str, str]
    run_dir: Path


def isolated_env(tmp: Path, toml: str | None = None) -> dict[str, str]:
    """Writes tmp/stack.toml; the environment that points `rtai` at it and at the .run folder tmp/run."""
    config_file = tmp / "stack.toml"
    config_file.write_text(toml if toml is not None else isolated_stack_toml())
    return {"RTAI_STACK_CONFIG": str(config_file), "RTAI_RUN_DIR": str(tmp / "run")}


def served_model_toml(
    tmp: Path, columns: list[str], seed: int, overrides: dict[str, dict[str, object]] | None = None
) -> str:
    """A stack.toml (offset ports, and `overrides`) whose Feast serves a copy of the feature
    repository and whose Triton serves a generated model over `columns`, registered as fraud_mlp,
    both under tmp."""
    repo = copy_of_feature_repo(tmp)
    model = tmp / "model.onnx"
    write_columns_model(model, columns, seed=seed)
    sections = {"feast": {"feature_repo": str(repo)}, "triton": {"model_repository": str(tmp / "tr")}}
    toml = isolated_stack_toml(sections | (overrides or {}))
    registered = cli("model", "register", "--model", str(model), "--name", "fraud_mlp", env=isolated_env(tmp, toml))
    assert registered.returncode == 0, registered.stderr
    return toml


def copy_of_feature_repo(tmp: Path) -> Path:
    """The project's feature repository, definitions only (no generated data), as tmp/feature_repo."""
    return feast_repo.copy_of_definitions(tmp)


def container_mode() -> bool:
    """pytest --stack=containers (tests/conftest.py): services with an image run as containers."""
    return os.environ.get(STACK_MODE_VARIABLE) == "containers"


@contextmanager
def stack_services(config: stack_config.StackConfig, services: list[str], env: dict[str, str]) -> Iterator[None]:
    """`services` up for the block, in the test session's mode: through `rtai stack up` (with
    `env`), or in container mode the ones with an image as containers and the rest as processes;
    all stopped after. An empty list means the configured default services."""
    in_containers, as_processes = container_stack.split(services) if container_mode() else ([], services)
    with ExitStack() as stack:
        if in_containers:
            stack.enter_context(container_stack.started(config, in_containers))
        if as_processes or not in_containers:
            stack.callback(cli, "stack", "down", env=env)
            result = cli("stack", "up", *as_processes, env=env)
            assert result.returncode == 0, f"stack up failed:\n{result.stderr}"
        yield


@contextmanager
def isolated_stack(tmp: Path, services: list[str], toml: str | None = None) -> Iterator[IsolatedStack]:
    """Starts `services` with their own config and .run folder (stack_services); stops them after."""
    env = isolated_env(tmp, toml)
    config_file, run_dir = Path(env["RTAI_STACK_CONFIG"]), Path(env["RTAI_RUN_DIR"])
    config = stack_config.load(config_file)
    with stack_services(config, services, env):
        yield IsolatedStack(config, env, run_dir)


def stop_service(stack: IsolatedStack, name: str, *, kill: bool = False) -> None:
    """One service of `stack` down, in the session's mode: `rtai stack down NAME`, or with `kill`
    SIGKILL to its processes (crash); in container mode its container stopped or killed."""
    if container_mode() and name in container_stack.CONTAINER_SERVICES:
        container_stack.stop(stack.config, name, kill=kill)
    elif kill:
        record = processes.read_pid_file(stack.run_dir / "pids" / f"{name}.pid")
        assert record is not None, f"{name} has no pid file"
        crash(record)
    else:
        result = cli("stack", "down", name, env=stack.env)
        assert result.returncode == 0, result.stderr


def start_service(stack: IsolatedStack, name: str) -> str:
    """A service stop_service took down, up again on its data until ready; what it printed
    (`rtai stack up`'s output; the container's log tail in container mode)."""
    if container_mode() and name in container_stack.CONTAINER_SERVICES:
        container_stack.start(stack.config, name)
        return container_stack.log_tail(container_stack.RUNNING[container_stack.key(stack.config, name)])
    result = cli("stack", "up", name, env=stack.env)
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def receive_messages(consumer: pulsar.Consumer, count: int, timeout_s: float) -> list[pulsar.Message]:
    """Up to `count` messages, each acknowledged, within timeout_s."""
    received, deadline = [], time.monotonic() + timeout_s
    while len(received) < count and time.monotonic() < deadline:
        try:
            message = consumer.receive(timeout_millis=1000)
        except pulsar.Timeout:
            continue
        received.append(message)
        consumer.acknowledge(message)
    return received


def receive_all(consumer: pulsar.Consumer, count: int, timeout_s: float) -> list[dict]:
    """Up to `count` JSON messages, each acknowledged, within timeout_s."""
    return [json.loads(message.data()) for message in receive_messages(consumer, count, timeout_s)]


def crash(record: processes.PidRecord) -> None:
    """SIGKILL to a process and everything under it: no shutdown hook, no final checkpoint."""
    for pid in [record.pid, *processes.descendants(record.pid)]:
        with suppress(ProcessLookupError):  # a child that exited since it was listed
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while processes.is_running(record) and time.monotonic() < deadline:
        processes.exit_code(record)
        time.sleep(0.1)


def crash_stack(run_dir: Path) -> int:
    """SIGKILL to every process of a stack at once, as a power cut would: each service with its
    supervisor and all they spawned (pid files under run_dir/pids). How many processes died."""
    tree: list[int] = []
    for pid_file in sorted((run_dir / "pids").glob("*.pid")):
        record = processes.read_pid_file(pid_file)
        if record is not None and processes.is_running(record):
            tree += [record.pid, *processes.descendants(record.pid), *processes.group_members(record.pid)]
    tree = list(dict.fromkeys(tree))
    for pid in tree:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while processes.alive(tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not processes.alive(tree), f"still running after SIGKILL: {processes.alive(tree)}"
    return len(tree)


# The columns of a generated model that scores what the inference job assembles.
MODEL_COLUMNS = [*REQUEST_FEATURES, *FEATURE_NAMES, *CARD_STATS, *MERCHANT_STATS]


def cluster_pipeline(
    folder: Path,
    stack: IsolatedStack,
    name: str,
    *,
    checkpoint_interval_ms: int,
    features: bool,
    inference: dict[str, object] | None = None,
) -> tuple[Path, dict[str, str]]:
    """A pipeline config on fresh `name-...` topics against the isolated stack's servers: the
    inference job exactly-once (subscription `name-inference`, and the keys of `inference`) and,
    with `features`, the feature job (`name-features`); the topics by role."""
    run = uuid.uuid4().hex[:8]
    kinds = ("transactions", "dead_letter", "predictions", "alerts", "labels")
    topics = {k: full_name(f"{name}-{k}-{run}") for k in kinds}
    config = stack.config
    common = {"checkpoint_interval_ms": checkpoint_interval_ms, "feast": {"url": config.feast_url}}
    table: dict[str, object] = {
        "pulsar": {"service_url": config.pulsar_service_url, "admin_url": config.pulsar_admin_url},
        "topics": topics,
        "inference_job": {
            "subscription": f"{name}-inference",
            "delivery": "exactly-once",
            "triton": {"url": config.triton_grpc_url},
            **common,
            **(inference or {}),
        },
    }
    if features:
        table["feature_job"] = {"subscription": f"{name}-features", **common}
    path = folder / "pipeline.toml"
    path.write_text(tomli_w.dumps(table))
    return path, topics
