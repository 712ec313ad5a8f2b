"""Maximum sustained rate by draining a backlog: the rate between 20 % and 90 % of it.

Start-up and the tail are left out; backpressure paces delivery to processing, so the rate
in between is what the consumer sustains. Progress is watched as outputs are read back; where
their publish times are known, the rate is taken from those (a reader that falls behind and
catches up would otherwise show its own catching up as the consumer's rate). A window shorter
than MIN_WINDOW_S is reported as such (`short_window`): the JIT's warm-up and a single slow
stretch weigh too much in it; a larger backlog is the remedy.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flink_jobs.errors import UserFacingError
from rtai.benchmarks.cpu_time import CpuMeter
from rtai.console import progress_bar
from rtai.stack import processes

DRAIN_WINDOW = (0.2, 0.9)
MIN_WINDOW_S = 30.0


def drain_rate(
    progress: Callable[[], int],
    events: int,
    consumer: processes.PidRecord,
    *,
    what: str,
    timeout_s: float = 900,
    meter: Callable[[], CpuMeter] | None = None,
) -> dict[str, object]:
    """`progress()`: how many of the `events` are through so far. `what` names the consumer and its log.
    `meter`: makes the CPU meter read over the measured window (its processes are up by then)."""
    marks: dict[float, float] = {}
    cpu: dict[str, object] = {}
    running: CpuMeter | None = None
    bar = progress_bar("drained", events)
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout_s and processes.is_running(consumer):
            done = progress()
            bar.update(done - bar.n)
            for share in DRAIN_WINDOW:
                if done >= share * events and share not in marks:
                    marks[share] = time.monotonic()
                    if meter is not None and share == DRAIN_WINDOW[0]:
                        running = meter()
                        running.start()
                    if running is not None and share == DRAIN_WINDOW[1]:
                        cpu = running.stop()
            if len(marks) == len(DRAIN_WINDOW):
                break
            time.sleep(0.25)
    finally:
        bar.close()
    if len(marks) < len(DRAIN_WINDOW):
        raise UserFacingError(f"{what} failed or did not drain {events:,} events in {timeout_s:.0f} s")
    low, high = DRAIN_WINDOW
    seconds = marks[high] - marks[low]
    rate = round((high - low) * events / seconds)
    if cpu:
        # CPU per drained event, per process and for the whole machine: the per-event budget.
        drained = (high - low) * events
        per_event = {name: s * 1e6 / drained for name, s in {**cpu["cpu_s"], **cpu["machine_s"]}.items()}
        cpu["us_per_event"] = {name: round(us, 1) for name, us in per_event.items()}
    return {"backlog_events": events, **_window(seconds, rate)} | ({"cpu": cpu} if cpu else {})


def rate_from_publish_times(publish_ms: list[int], events: int) -> dict[str, object]:
    """The drain window and rate from the outputs' own publish times (epoch ms): from the output
    at 20 % of the backlog to the one at 90 %."""
    ordered = sorted(publish_ms)
    low, high = DRAIN_WINDOW
    first, last = ordered[int(low * events)], ordered[int(high * events) - 1]
    seconds = max(last - first, 1) / 1000
    return _window(seconds, round((high - low) * events / seconds))


def _window(seconds: float, rate: int) -> dict[str, object]:
    return {"window_s": round(seconds, 1), "events_per_s": rate, "short_window": seconds < MIN_WINDOW_S}


def window_note(result: dict[str, object]) -> str:
    """How a drain's result reads after its rate: its window, and whether it was too short."""
    short = f" (under {MIN_WINDOW_S:g} s: too short to trust, give a larger backlog)" if result["short_window"] else ""
    return f" over {result['window_s']} s{short}"


def cpu_note(result: dict[str, object]) -> str:
    """A drain's CPU per drained event, per process and for the machine, in one line (empty without figures)."""
    per_event = result.get("cpu", {}).get("us_per_event")
    if not per_event:
        return ""
    return "CPU per drained event (us): " + ", ".join(f"{name} {us:g}" for name, us in per_event.items())
