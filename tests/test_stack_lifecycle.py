"""The whole stack, optional services included, on its own ports: up, status, down, nothing left."""

from __future__ import annotations

import pytest

from rtai.stack import processes
from rtai.stack.probes import port_in_use
from tests.stack_helpers import cli, isolated_stack

# The process stack's own lifecycle (pid files, supervised processes).
pytestmark = pytest.mark.process_stack

SERVICES = [
    "redis",
    "pulsar",
    "feast",
    "triton",
    "zookeeper",
    "flink-jobmanager",
    "flink-taskmanager",
    "flink-job-watch",
    "redis-exporter",
    "alert-webhook",
    "alertmanager",
    "prometheus",
]


def _ports(config) -> list[int]:
    return [
        config.redis.port,
        config.pulsar.broker_port,
        config.pulsar.web_port,
        config.pulsar.bookie_port,
        config.feast.port,
        config.triton.http_port,
        config.triton.grpc_port,
        config.triton.metrics_port,
        config.zookeeper.port,
        config.flink.rest_port,
        config.flink.rpc_port,
        config.flink.job_watch_port,
    ]


def test_up_status_down_leaves_no_process_and_no_port(tmp_path):
    with isolated_stack(tmp_path, SERVICES) as stack:
        status = cli("stack", "status", env=stack.env)
        assert status.returncode == 0, status.stderr
        lines = {line.split()[0]: line for line in status.stdout.splitlines()}
        for name in SERVICES:
            assert lines[name].split()[1] == "up", status.stdout
            assert "pid=-" not in lines[name]
        records = [processes.read_pid_file(stack.run_dir / "pids" / f"{name}.pid") for name in SERVICES]
        assert all(records)
        # Everything the services spawned (Triton's python stubs, gunicorn workers, the JVMs under
        # the supervisor).
        spawned = {pid for r in records for pid in [r.pid, *processes.descendants(r.pid)]}
        assert len(spawned) > len(SERVICES)
        ports = _ports(stack.config)
        assert all(port_in_use(port) for port in ports)

        down = cli("stack", "down", env=stack.env)
        assert down.returncode == 0, down.stderr

        left = processes.alive(sorted(spawned))
        assert not left, f"processes left after down: {left}"
        assert not [port for port in ports if port_in_use(port)]
        after = cli("stack", "status", *SERVICES, env=stack.env)
        assert [line.split()[:2] for line in after.stdout.splitlines()] == [[name, "down"] for name in SERVICES]
