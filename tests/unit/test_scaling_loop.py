"""The scaling loop's decision from Prometheus readings: the HPA rule on each metric, the larger
recommendation, and no decision without readings or in the job's initialization period."""

from __future__ import annotations

import pytest

from rtai import paths
from rtai.scaling.loop import BACKLOG_QUERY, BUSY_QUERY, UPTIME_QUERY, ScalingLoop
from rtai.stack import config as stack_config


class Readings:
    """Prometheus as the loop queries it: one value per query, or none."""

    def __init__(self, **values: float | None) -> None:
        self.values = {BACKLOG_QUERY: values["backlog"], BUSY_QUERY: values["busy"], UPTIME_QUERY: values["uptime"]}

    def instant(self, query: str) -> list[tuple[dict[str, str], float]]:
        value = self.values[query]
        return [] if value is None else [({}, value)]


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RUN_DIR", tmp_path / "run")  # no kept TaskManager count: [flink] taskmanagers
    path = tmp_path / "stack.toml"
    path.write_text('[flink]\nmode = "reactive"\n[scaling]\nbacklog_per_taskmanager = 20000\ninitialization_s = 60\n')
    return stack_config.load(path)


def test_the_larger_recommendation_wins_within_max_taskmanagers(config):
    by_backlog = ScalingLoop(config, Readings(backlog=50_000, busy=0.2, uptime=120)).decide(1000.0)
    assert (by_backlog.by_backlog, by_backlog.by_busy, by_backlog.desired) == (3, 1, 3)
    by_busy = ScalingLoop(config, Readings(backlog=0, busy=0.95, uptime=120)).decide(1000.0)
    assert (by_busy.by_backlog, by_busy.by_busy, by_busy.desired) == (1, 2, 2)
    capped = ScalingLoop(config, Readings(backlog=10**7, busy=1.0, uptime=120)).decide(1000.0)
    assert capped.desired == config.flink.max_taskmanagers


def test_within_the_tolerance_nothing_changes(config):
    decision = ScalingLoop(config, Readings(backlog=21_000, busy=0.75, uptime=120)).decide(1000.0)
    assert decision.desired == decision.taskmanagers == 1


@pytest.mark.parametrize(
    "readings",
    [
        {"backlog": 50_000, "busy": 1.0, "uptime": 30},  # catching up after a restart
        {"backlog": None, "busy": 1.0, "uptime": 120},  # the job restarting: its metrics are gone
        {"backlog": 50_000, "busy": None, "uptime": 120},
        {"backlog": 50_000, "busy": 1.0, "uptime": None},
    ],
)
def test_no_decision_without_readings_or_in_the_initialization_period(config, readings):
    assert ScalingLoop(config, Readings(**readings)).decide(1000.0) is None
