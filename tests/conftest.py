"""The session's stack: Pulsar, Feast and Triton on their configured ports.

Started through the CLI (`rtai stack up`) unless already up; stopped at the end
only if this session started it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rtai.stack import config as stack_config
from rtai.stack import manager, registry
from tests.stack_helpers import cli


@pytest.fixture(scope="session")
def stack() -> Iterator[stack_config.StackConfig]:
    config = stack_config.load()
    services = registry.selected(config)
    already_up = all(manager.status(s).state == "up" for s in services)
    if not already_up:
        result = cli("stack", "up")
        assert result.returncode == 0, f"stack up failed:\n{result.stderr}"
    yield config
    if not already_up:
        cli("stack", "down")


# Figures a test measures and reports without asserting a bound (record_property), printed at the end.
REPORTED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        REPORTED.extend(f"{report.nodeid}: {name} = {value}" for name, value in report.user_properties)


def pytest_terminal_summary(terminalreporter) -> None:
    if REPORTED:
        terminalreporter.section("reported figures")
        for line in REPORTED:
            terminalreporter.write_line(line)
