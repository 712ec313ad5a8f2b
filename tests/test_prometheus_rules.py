"""The monitoring config as Prometheus's own tools read it: the alert rules against their unit
tests (`promtool test rules`: each alert quiet on normal series, firing on bad ones, resolving),
the rule files, and the rendered Prometheus and Alertmanager configs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from rtai.stack import config as stack_config
from rtai.stack import monitoring
from tests.stack_helpers import isolated_env, isolated_stack_toml

TESTS = monitoring.PROMETHEUS_DIR / "tests" / "alerts_test.yml"


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} not on PATH: `make setup-monitoring` installs it"
    return found


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_every_alert_fires_stays_quiet_and_resolves_as_its_unit_tests_say():
    result = run(tool("promtool"), "test", "rules", str(TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_rule_has_a_test():
    alerts = {
        line.split(":", 1)[1].strip()
        for line in (monitoring.RULES_DIR / "alerts.yml").read_text().splitlines()
        if line.strip().startswith("- alert:")
    }
    tested = {
        line.split(":", 1)[1].strip()
        for line in TESTS.read_text().splitlines()
        if line.strip().startswith("alertname:")
    }
    assert len(alerts) >= 12
    assert alerts == tested


@pytest.mark.parametrize("rules", sorted(monitoring.RULES_DIR.glob("*.yml")), ids=lambda p: p.name)
def test_rule_files_are_valid(rules):
    result = run(tool("promtool"), "check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rendered_configs_are_valid(tmp_path, monkeypatch):
    env = isolated_env(tmp_path, isolated_stack_toml())
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = stack_config.load()
    monkeypatch.setattr(monitoring, "data_dir", lambda name: tmp_path / name)
    for name in ("prometheus", "alertmanager"):
        (tmp_path / name).mkdir()
    prometheus = run(tool("promtool"), "check", "config", monitoring.write_prometheus_config(config))
    assert prometheus.returncode == 0, prometheus.stdout + prometheus.stderr
    written = monitoring.write_alertmanager_config(config)
    alertmanager = run(tool("amtool"), "check-config", written)
    assert alertmanager.returncode == 0, alertmanager.stdout + alertmanager.stderr
    assert f"127.0.0.1:{config.monitoring.webhook_port}/alerts" in Path(written).read_text()
