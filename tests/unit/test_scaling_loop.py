"""The scaling loop's decision from Prometheus readings: the HPA rule on each metric, the larger
recommendation, no decision without readings or in the job's initialization period, no
scale-out on the busy time until its minute lies past that period; a failed start or query logged,
counted and retried."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from flink_jobs.errors import UserFacingError
from rtai import paths
from rtai.scaling.loop import BACKLOG_QUERY, BUSY_QUERY, GROWTH_QUERY, UPTIME_QUERY, ScalingLoop
from rtai.stack import config as stack_config
from rtai.stack import flink_cluster, flink_scale
from rtai.stack.manager import ServiceStartError


class Readings:
    """Prometheus as the loop queries it: one value per query, or none."""

    def __init__(self, growth: float | None = None, **values: float | None) -> None:
        self.values = {BACKLOG_QUERY: values["backlog"], BUSY_QUERY: values["busy"], UPTIME_QUERY: values["uptime"]}
        self.values[GROWTH_QUERY] = growth

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


def test_a_scale_in_waits_while_the_backlog_grows(config):
    flink_cluster.taskmanagers_file().parent.mkdir(parents=True)
    flink_cluster.taskmanagers_file().write_text("3\n")
    # backlog_per_taskmanager 20,000: growth past 10 % of it a minute (33/s) holds a scale-in
    for growth, desired in ((None, 1), (10.0, 1), (50.0, 3)):
        decision = ScalingLoop(config, Readings(backlog=100, busy=0.1, uptime=120, growth=growth)).decide(1000.0)
        assert (decision.by_backlog, decision.by_busy, decision.desired) == (1, 1, desired), growth
    out = ScalingLoop(config, Readings(backlog=100_000, busy=0.1, uptime=120, growth=50.0)).decide(1000.0)
    assert out.desired == out.by_backlog > 3  # the hold never stands in a scale-out's way


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


def test_the_busy_time_scales_out_once_its_minute_lies_past_the_initialization_period(config):
    # initialization_s 60: until 120 s the busy reading's minute holds the job's start
    starting = ScalingLoop(config, Readings(backlog=0, busy=1.0, uptime=90)).decide(1000.0)
    assert (starting.by_busy, starting.desired) == (1, 1)
    behind = ScalingLoop(config, Readings(backlog=50_000, busy=1.0, uptime=90)).decide(1000.0)
    assert (behind.by_backlog, behind.by_busy, behind.desired) == (3, 1, 3)
    settled = ScalingLoop(config, Readings(backlog=0, busy=1.0, uptime=120)).decide(1000.0)
    assert (settled.by_busy, settled.desired) == (2, 2)
    flink_cluster.taskmanagers_file().parent.mkdir(parents=True)
    flink_cluster.taskmanagers_file().write_text("3\n")
    idle = ScalingLoop(config, Readings(backlog=0, busy=0.1, uptime=90)).decide(1000.0)
    assert (idle.by_busy, idle.desired) == (1, 1)  # a low reading is low: the scale-in is not held


def test_an_overstated_busy_reading_does_not_hold_a_later_scale_in(config):
    readings = Readings(backlog=0, busy=1.0, uptime=90)
    loop = ScalingLoop(config, readings)
    assert loop.decide(1000.0).desired == 1  # one TaskManager, the job just started
    flink_cluster.taskmanagers_file().parent.mkdir(parents=True)
    flink_cluster.taskmanagers_file().write_text("2\n")  # scaled out on its backlog meanwhile
    readings.values |= {BUSY_QUERY: 0.1, UPTIME_QUERY: 150}
    assert loop.decide(1030.0).desired == 1  # within the scale-down window of that first reading


class TaskManagers:
    """The stack's TaskManagers as the loop drives them: a start that fails `failures` times first
    (a TaskManager not ready in time is stopped), the kept count written before the start, as
    flink_scale does."""

    def __init__(self, running: int, failures: int) -> None:
        self.running, self.failures = running, failures
        self.calls: list[int] = []

    def scale(self, config, count: int) -> None:
        self.calls.append(count)
        flink_cluster.taskmanagers_file().parent.mkdir(parents=True, exist_ok=True)
        flink_cluster.taskmanagers_file().write_text(f"{count}\n")
        if self.failures:
            self.failures -= 1
            raise ServiceStartError(f"{flink_cluster.taskmanager_name(count)} was not ready within 60 s")
        self.running = count


def test_a_taskmanager_that_did_not_start_is_started_again_and_the_loop_goes_on(config, monkeypatch, capsys):
    managers = TaskManagers(running=1, failures=1)
    monkeypatch.setattr(flink_scale, "scale_taskmanagers", managers.scale)
    monkeypatch.setattr(flink_scale, "running_taskmanagers", lambda _: managers.running)
    failed_before = REGISTRY.get_sample_value("rtai_scaling_failures_total", {"stage": "rescale"}) or 0
    loop = ScalingLoop(config, Readings(backlog=50_000, busy=0.2, uptime=120))
    assert loop.step().desired == 3  # the start fails: logged, counted, the loop still runs
    assert (managers.running, managers.calls) == (1, [3])
    assert REGISTRY.get_sample_value("rtai_scaling_failures_total", {"stage": "rescale"}) == failed_before + 1
    assert '"event": "failed", "stage": "rescale"' in capsys.readouterr().out
    loop.step()  # fewer run than kept: started again, then the same decision holds
    assert (managers.running, managers.calls) == (3, [3, 3])
    loop.step()
    assert managers.calls == [3, 3]


def test_an_unanswered_query_is_logged_and_the_loop_goes_on(config, monkeypatch, capsys):
    monkeypatch.setattr(flink_scale, "running_taskmanagers", lambda _: 1)

    class Down:
        def instant(self, query: str):
            raise UserFacingError("Prometheus at http://localhost:9090 is down")

    assert ScalingLoop(config, Down()).step() is None
    assert '"stage": "read"' in capsys.readouterr().out
