"""A load trace replayed through both scaling rules (rules.py) before anyone deploys them: the
replicas each rule would run over time, the backlog it would leave, and how often it rescales.

The job is modelled by what the benchmark measured: one replica (a TaskManager with one slot,
parallelism one more) processes at most `capacity` events/s, a rescale stops processing for
`rescale_s` (stop with a savepoint, start from it), and the backlog is what came in and was not
processed. Every `period_s` (the HPA's sync period) each rule sees the input rate, the backlog,
the busy fraction and the processed rate of the last period, as its metrics would show them.

    rtai scaling replay --trace bench/traces/ramp.csv --capacity 2300
"""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

from flink_jobs.errors import UserFacingError

from .rules import FlinkAutoscalerRule, HpaRule


@dataclass(frozen=True)
class Step:
    time_s: float
    input_rate: float
    replicas: int
    processed_rate: float
    backlog: float
    busy: float


def read_trace(path: Path) -> list[tuple[float, float]]:
    """(time_s, events_per_s) rows, time increasing; a clear error naming the bad row otherwise."""
    rows: list[tuple[float, float]] = []
    with path.open() as lines:
        for number, row in enumerate(csv.DictReader(lines), start=2):
            try:
                time_s, rate = float(row["time_s"]), float(row["events_per_s"])
            except (KeyError, TypeError, ValueError) as err:
                raise UserFacingError(
                    f"{path}:{number}: needs numeric time_s and events_per_s columns ({err})"
                ) from err
            if rate < 0 or (rows and time_s <= rows[-1][0]):
                raise UserFacingError(f"{path}:{number}: time_s must increase and events_per_s be >= 0")
            rows.append((time_s, rate))
    if len(rows) < 2:
        raise UserFacingError(f"{path}: a trace needs at least two rows")
    return rows


def rate_at(trace: list[tuple[float, float]], time_s: float) -> float:
    """The trace's rate at a time: each row holds until the next."""
    rate = trace[0][1]
    for at, value in trace:
        if at > time_s:
            break
        rate = value
    return rate


def simulate(
    trace: list[tuple[float, float]], decide, capacity: float, rescale_s: float, period_s: float
) -> list[Step]:
    """`decide(step) -> replicas`: the rule under test, asked once per period."""
    replicas, backlog, paused_until = 1, 0.0, -1.0
    steps: list[Step] = []
    time_s, end = trace[0][0], trace[-1][0]
    while time_s < end:
        rate = rate_at(trace, time_s)
        running = max(0.0, period_s - max(0.0, paused_until - time_s))  # seconds of the period it processes
        can = replicas * capacity * running
        processed = min(can, backlog + rate * period_s)
        backlog = backlog + rate * period_s - processed
        busy = processed / (replicas * capacity * period_s)
        step = Step(time_s, rate, replicas, processed / period_s, backlog, busy)
        steps.append(step)
        wanted = decide(step)
        if wanted != replicas:
            replicas, paused_until = wanted, time_s + period_s + rescale_s
        time_s += period_s
    return steps


def replay(trace_path: Path, capacity: float, rescale_s: float, period_s: float, out: Path) -> dict:
    for option, value, least in (("--capacity", capacity, 0.0), ("--period-s", period_s, 0.0)):
        if not value > least:
            raise UserFacingError(f"{option} must be positive, got {value}")
    if not rescale_s >= 0:
        raise UserFacingError(f"--rescale-s must be at least 0, got {rescale_s}")
    trace = read_trace(trace_path)
    hpa = HpaRule(target_per_replica=capacity * 5, max_replicas=8)  # 5 s of one replica's work waiting each
    flink = FlinkAutoscalerRule(vertex_max_parallelism=8, stabilization_s=60.0, catch_up_s=120.0)
    runs = {
        "hpa_backlog_per_replica": simulate(
            trace, lambda s: hpa.desired(s.time_s, s.replicas, s.backlog), capacity, rescale_s, period_s
        ),
        "flink_autoscaler": simulate(
            trace,
            lambda s: flink.desired(s.time_s, s.replicas, s.input_rate, s.backlog, s.busy, s.processed_rate),
            capacity,
            rescale_s,
            period_s,
        ),
    }
    result = {
        "trace": str(trace_path),
        "capacity_per_replica": capacity,
        "rescale_s": rescale_s,
        "period_s": period_s,
        "rules": {"hpa": repr(hpa), "flink_autoscaler": repr(flink)},
        "summary": {name: summary(steps) for name, steps in runs.items()},
        "replica_changes": {
            name: [[s.time_s, s.replicas] for s in replica_changes(steps)] for name, steps in runs.items()
        },
        "steps": {name: [s.__dict__ for s in steps] for name, steps in runs.items()},
    }
    out.write_text(json.dumps(result, indent=1))
    return result


def replica_changes(steps: list[Step]) -> list[Step]:
    """The first step and every step whose replicas differ from the step before."""
    return [steps[0], *(b for a, b in itertools.pairwise(steps) if a.replicas != b.replicas)]


def summary(steps: list[Step]) -> dict[str, float]:
    return {
        "rescales": len(replica_changes(steps)) - 1,
        "max_replicas": max(s.replicas for s in steps),
        "max_backlog": round(max(s.backlog for s in steps)),
        "replica_seconds": round(sum(s.replicas for s in steps) * (steps[1].time_s - steps[0].time_s)),
    }
