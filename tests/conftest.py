"""The session's stack: Pulsar, Feast and Triton on their configured ports.

`pytest --stack=process` (the default): started through the CLI (`rtai stack up`) unless already
up; stopped at the end only if this session started it. `pytest --stack=containers`: the services
with an image run from the project's images (`make images`; tests/container_stack.py), for the
session's stack and every isolated one; the tests of the process stack itself are marked
`process_stack` and deselected there, and the count is reported. At the end the tests' topics
(test-...) are deleted from the session's broker.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import httpx
import pytest

from flink_jobs.config.topics import DEFAULT_NAMESPACE, DEFAULT_TENANT
from flink_jobs.errors import UserFacingError
from rtai import subscription_stats
from rtai.stack import config as stack_config
from rtai.stack import manager, registry
from tests import container_stack
from tests.stack_helpers import STACK_MODE_VARIABLE, cli, container_mode, stack_services


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--stack",
        choices=("process", "containers"),
        default="process",
        help="run the services as local processes (default) or from the project's images (make images)",
    )


def pytest_configure(config: pytest.Config) -> None:
    os.environ[STACK_MODE_VARIABLE] = config.getoption("--stack")
    config.addinivalue_line(
        "markers",
        "process_stack: tests the process stack itself (pid files, scrape targets); not run with --stack=containers",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not container_mode():
        return
    deselected = [item for item in items if item.get_closest_marker("process_stack")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for name, container in list(container_stack.RUNNING.items()):
            report.sections.append((f"{name} container log", container_stack.log_tail(container)))


@pytest.fixture(scope="session")
def stack() -> Iterator[stack_config.StackConfig]:
    config = stack_config.load()
    services = registry.selected(config)
    if container_mode():
        up = [s.name for s in services if manager.status(s).state == "up"]
        assert not up, f"--stack=containers needs the configured ports free; running as processes: {up} (make down)"
        with stack_services(config, [s.name for s in services], {}):
            yield config
        return
    already_up = all(manager.status(s).state == "up" for s in services)
    if not already_up:
        result = cli("stack", "up")
        assert result.returncode == 0, f"stack up failed:\n{result.stderr}"
    yield config
    _delete_test_topics(config)
    if not already_up:
        cli("stack", "down")


def _delete_test_topics(config: stack_config.StackConfig) -> None:
    """The tests' throwaway topics (all named test-...) off the stack's broker, which keeps its data
    between runs: a developer's broker would otherwise gather hundreds of them."""
    try:
        subscription_stats.delete_topics(config.pulsar_admin_url, f"{DEFAULT_TENANT}/{DEFAULT_NAMESPACE}", "test-")
    except (UserFacingError, httpx.HTTPError) as err:
        warnings.warn(f"the tests' topics were left on the broker: {err}", stacklevel=1)


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
