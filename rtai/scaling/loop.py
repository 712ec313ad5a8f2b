"""`rtai scaling run`: the local scaling loop of a reactive-mode Flink cluster ([flink] mode =
"reactive"). Every [scaling] period_s it reads the job's load from the stack's Prometheus, the
source's backlog (the project's pendingRecords gauge, summed over the source's subtasks), its
growth and the busiest task's busy fraction, puts the backlog and the busy time each through the
HPA rule (rules.HpaRule: a target per TaskManager, a tolerance, a scale-down stabilization window,
min and max), takes the larger recommendation as an HPA with two metrics does, holds any scale-in
while the backlog grows (faster than GROWTH_HOLD of a TaskManager's backlog target a minute: a
job falling behind is not over-provisioned, whatever its busy time), and starts or stops
TaskManagers to match; the job follows by itself (reactive mode). Nothing is decided while the
job restarts (its metrics are gone) nor in its first [scaling] initialization_s after a
(re)start, when it catches up on what waited during the restart: the HPA's initialization period
and the Flink autoscaler's stabilization interval play that part. For a minute more
(BUSY_WINDOW_S) the busy time may only keep or lower the count: Flink derives it from the idle
time averaged over the last minute, which holds nothing before the job's start, so a job just
started reads busy near 1 whatever its rate; a reading can overstate the load then, never
understate it.

Like a ReplicaSet controller under an HPA, it also reconciles: when fewer TaskManagers run than
the kept count (one that did not start in time was stopped), it starts them again next period. A
failed start or an unanswered query is logged and counted, and the loop goes on.

Each rescale is logged as one JSON line; every reading is exported (rtai_scaling_* on the
process's /metrics, announced to the stack's Prometheus), so its decisions can be graphed
beside the backlog they answered.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import asdict, dataclass

from prometheus_client import Counter, Gauge

from flink_jobs.errors import UserFacingError
from rtai.monitoring.dashboard import Prometheus
from rtai.monitoring.process_metrics import serving
from rtai.stack import flink_cluster, flink_scale
from rtai.stack.config import StackConfig

from .rules import HpaRule

# The source's backlog: the gauge RedeliveryFilteringStringSchema registers (-1 until its first reading).
BACKLOG_QUERY = "sum(clamp_min(flink_taskmanager_job_task_operator_pulsarDeserializer_pendingRecords, 0))"
# The backlog's growth, messages per second over the last 30 s (the gauge changes every 5 s).
GROWTH_QUERY = f"deriv(({BACKLOG_QUERY})[30s:5s])"
GROWTH_HOLD = 0.1  # of backlog_per_taskmanager per minute: growth past it holds a scale-in
# The busiest task's busy fraction (NaN filtered out: a task that has not run yet reports NaN).
BUSY_QUERY = "max(flink_taskmanager_job_task_busyTimeMsPerSecond >= 0) / 1000"
# Seconds since the job last switched to running (Flink's uptime gauge restarts with the job).
UPTIME_QUERY = "max(flink_jobmanager_job_uptime) / 1000"
# The span of the idle time busyTimeMsPerSecond is derived from (Flink's TimerGauge default, FLINK-30090).
BUSY_WINDOW_S = 60.0

TASKMANAGERS = Gauge("rtai_scaling_taskmanagers", "TaskManagers running after the last decision")
DESIRED = Gauge("rtai_scaling_desired_taskmanagers", "TaskManagers the last decision asked for", ["metric"])
BACKLOG = Gauge("rtai_scaling_backlog_messages", "The source's backlog at the last reading")
GROWTH = Gauge("rtai_scaling_backlog_growth_messages_per_second", "The backlog's growth at the last reading")
BUSY = Gauge("rtai_scaling_busy_ratio", "The busiest task's busy fraction at the last reading")
RESCALES = Counter("rtai_scaling_rescales", "TaskManagers started or stopped by the loop", ["direction"])
NO_READING = Counter("rtai_scaling_missing_readings", "Periods without the job's metrics (a restart)")
FAILURES = Counter("rtai_scaling_failures", "Periods that ended in an error, logged", ["stage"])
UPTIME = Gauge("rtai_scaling_job_uptime_seconds", "Since the job last started, at the last reading")


@dataclass(frozen=True)
class Decision:
    at_s: float
    uptime_s: float  # the job's, since it last (re)started
    taskmanagers: int
    backlog: float
    backlog_growth: float  # messages per second
    busy: float
    by_backlog: int
    by_busy: int
    backlog_growing: bool  # past GROWTH_HOLD: no scale-in

    @property
    def desired(self) -> int:
        recommended = max(self.by_backlog, self.by_busy)
        return max(recommended, self.taskmanagers) if self.backlog_growing else recommended


class ScalingLoop:
    def __init__(self, config: StackConfig, prometheus: Prometheus) -> None:
        self.config, self.prometheus = config, prometheus
        policy = config.scaling
        bounds = (policy.min_taskmanagers, config.flink.max_taskmanagers, policy.tolerance)
        window = policy.scale_down_stabilization_s
        self.backlog_rule = HpaRule(policy.backlog_per_taskmanager, *bounds, window)
        self.busy_rule = HpaRule(policy.busy_target, *bounds, window)

    def _value(self, query: str) -> float | None:
        found = self.prometheus.instant(query)
        return found[0][1] if found else None

    def decide(self, now_s: float) -> Decision | None:
        """The two rules' recommendations on the current readings; None without readings, or while
        the job is in its initialization period."""
        uptime = self._value(UPTIME_QUERY)
        backlog, busy = self._value(BACKLOG_QUERY), self._value(BUSY_QUERY)
        if uptime is None or backlog is None or busy is None:
            NO_READING.inc()
            return None
        growth = self._value(GROWTH_QUERY) or 0.0  # none before the gauge's second reading
        UPTIME.set(uptime)
        BACKLOG.set(backlog)
        GROWTH.set(growth)
        BUSY.set(busy)
        if uptime < self.config.scaling.initialization_s:
            return None
        current = flink_cluster.taskmanager_count(self.config)
        by_backlog = self.backlog_rule.desired(now_s, current, backlog)
        busy_total = busy * current
        if uptime < self.config.scaling.initialization_s + BUSY_WINDOW_S:
            # capped at the target before the rule sees it: its recommendation (and the one its
            # scale-down window keeps) is at most the current count
            busy_total = min(busy_total, self.config.scaling.busy_target * current)
        by_busy = self.busy_rule.desired(now_s, current, busy_total)
        DESIRED.labels("backlog").set(by_backlog)
        DESIRED.labels("busy").set(by_busy)
        growing = growth > GROWTH_HOLD * self.config.scaling.backlog_per_taskmanager / 60
        return Decision(now_s, uptime, current, backlog, growth, busy, by_backlog, by_busy, growing)

    def step(self) -> Decision | None:
        """One period: what did not start is started again, then read, decide, and rescale when the
        decision differs from the kept count. An error is logged and counted; the next period retries."""
        kept = flink_cluster.taskmanager_count(self.config)
        if flink_scale.running_taskmanagers(self.config) < kept and not self._scaled_to(kept, "restart"):
            return None
        try:
            decision = self.decide(time.time())
        except UserFacingError as err:
            _failed("read", err)
            return None
        if decision is None:
            return None
        if decision.desired != decision.taskmanagers:
            direction = "out" if decision.desired > decision.taskmanagers else "in"
            print(
                json.dumps({"event": "rescale", "direction": direction, "to": decision.desired, **asdict(decision)}),
                flush=True,
            )
            RESCALES.labels(direction).inc(abs(decision.desired - decision.taskmanagers))
            self._scaled_to(decision.desired, "rescale")
        TASKMANAGERS.set(decision.desired)
        return decision

    def _scaled_to(self, count: int, stage: str) -> bool:
        try:
            flink_scale.scale_taskmanagers(self.config, count)
        except UserFacingError as err:
            _failed(stage, err)
            return False
        return True


def _failed(stage: str, err: Exception) -> None:
    FAILURES.labels(stage).inc()
    print(json.dumps({"event": "failed", "stage": stage, "reason": str(err)}), flush=True)


def run(config: StackConfig, duration_s: float) -> None:
    """Until SIGTERM or SIGINT, or for duration_s when positive."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    loop = ScalingLoop(config, Prometheus(config.prometheus_url))
    deadline = time.monotonic() + duration_s if duration_s > 0 else None
    with serving("scaling-loop") as port:
        print(json.dumps({"event": "started", "metrics_port": port, **asdict(config.scaling)}), flush=True)
        while not stopping.is_set() and (deadline is None or time.monotonic() < deadline):
            loop.step()
            stopping.wait(config.scaling.period_s)
    print(json.dumps({"event": "stopped"}), flush=True)
