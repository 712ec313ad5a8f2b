"""The scaling rules as their documentation states them (rtai/scaling/rules.py), and the replay."""

from __future__ import annotations

import pytest

from flink_jobs.errors import UserFacingError
from rtai.scaling.replay import read_trace, replay, simulate
from rtai.scaling.rules import FlinkAutoscalerRule, HpaRule


def test_the_hpa_scales_by_the_metric_ratio_outside_its_tolerance():
    rule = HpaRule(target_per_replica=100, max_replicas=10)
    assert rule.desired(0, 2, 210) == 2  # ratio 1.05: within the 0.1 tolerance
    assert rule.desired(15, 2, 500) == 5  # ceil(2 x 2.5)
    assert rule.desired(30, 5, 5000) == 10  # capped at max_replicas


def test_the_hpa_scales_down_only_to_the_highest_recommendation_of_its_window():
    rule = HpaRule(target_per_replica=100, max_replicas=10, scale_down_stabilization_s=300)
    assert rule.desired(0, 2, 800) == 8
    assert rule.desired(100, 8, 0) == 8  # the recommendation of t=0 is still in the window
    assert rule.desired(301, 8, 0) == 1  # it left the window: down to min_replicas


def test_the_flink_autoscaler_sizes_for_input_plus_catch_up_at_its_target_utilization():
    rule = FlinkAutoscalerRule(max_parallelism=128, vertex_max_parallelism=16, catch_up_s=100)
    # One subtask busy 100 % processes 1,000/s; 1,500/s come in and 50,000 wait: target 2,000/s,
    # at 0.7 utilization ceil(2,000 / 700) = 3, aligned to a divisor of 128: 4.
    assert rule.desired(0, 1, 1500, 50_000, busy=1.0, processed_rate=1000) == 4
    assert rule.desired(60, 4, 200, 0, busy=0.05, processed_rate=200) == 4  # within stabilization


def test_the_flink_autoscaler_holds_within_the_utilization_boundary_and_limits_a_scale_down():
    rule = FlinkAutoscalerRule(vertex_max_parallelism=16, stabilization_s=0)
    assert rule.desired(0, 2, 1400, 0, busy=0.7, processed_rate=1400) == 2  # at the target
    # 10 % utilization of 8 subtasks: ceil(8 x 0.1 / 0.7) = 2, but by at most 60 % down: 4.
    assert rule.desired(10, 8, 800, 0, busy=0.1, processed_rate=800) == 4


def test_a_replayed_overload_grows_the_backlog_and_a_rescale_pauses_processing(tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text("time_s,events_per_s\n0,300\n60,300\n")
    steps = simulate(read_trace(trace), lambda step: 2 if step.time_s == 0 else step.replicas, 200, 10, 10)
    assert steps[0].backlog == pytest.approx(1000)  # 300/s in, 200/s out for 10 s
    assert steps[1].processed_rate == 0.0  # the rescale paused the whole period
    assert steps[2].processed_rate > 300  # two replicas catch up


def test_a_bad_trace_names_its_row(tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text("time_s,events_per_s\n0,10\n5,lots\n")
    with pytest.raises(UserFacingError, match=r"trace\.csv:3"):
        read_trace(trace)


@pytest.mark.parametrize(
    ("capacity", "rescale_s", "period_s", "named"),
    [(0, 30, 15, "--capacity"), (2300, 30, 0, "--period-s"), (2300, -1, 15, "--rescale-s")],
)
def test_a_bad_replay_setting_is_named(tmp_path, capacity, rescale_s, period_s, named):
    with pytest.raises(UserFacingError, match=named):
        replay(tmp_path / "unread.csv", capacity, rescale_s, period_s, tmp_path / "out.json")
