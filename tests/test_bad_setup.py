"""A missing prerequisite or a taken port is reported in one line that names it."""

from __future__ import annotations

import os
import socket

from tests.stack_helpers import cli, isolated_stack_toml


def test_missing_java_is_named_in_one_line(tmp_path):
    # PATH is an empty folder (no java, no mvn) and JAVA_HOME is unset.
    environment = {key: value for key, value in os.environ.items() if key != "JAVA_HOME"}
    result = cli("setup", env=environment | {"PATH": str(tmp_path)}, inherit_env=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: Java 17 not found"), lines[0]


def test_port_already_taken_is_named_in_one_line(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        config = tmp_path / "stack.toml"
        config.write_text(isolated_stack_toml({"redis": {"port": port}}))
        env = {"RTAI_STACK_CONFIG": str(config), "RTAI_RUN_DIR": str(tmp_path / "run")}
        result = cli("stack", "up", "redis", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0] == f"error: redis cannot start: port {port} (redis) is already in use by another process"
