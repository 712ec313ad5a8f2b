"""Where the cores go: CPU seconds of each process (with its children) over a phase (psutil).

A JVM's threads are also split by name, so the Flink task threads that run the Python operators
(thread mode: CPython inside the task thread) are told from the source, sink, GC and JIT threads;
those are read from /proc/<pid>/task, as psutil does not name threads.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import psutil

from rtai.stack import config as stack_config
from rtai.stack import manager, processes, registry

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _ticks(stat_path: Path) -> int:
    try:
        raw = stat_path.read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _cpu_s(pid: int) -> float:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def process_tree_cpu_s(pid: int) -> float:
    return sum(_cpu_s(p) for p in [pid, *processes.descendants(pid)])


def thread_ticks(pid: int) -> Counter[str]:
    """CPU ticks per thread name (threads of one name, like GC workers, added up)."""
    ticks: Counter[str] = Counter()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            name = (task / "comm").read_text().strip()
        except (FileNotFoundError, ProcessLookupError):
            continue
        ticks[name] += _ticks(task / "stat")
    return ticks


def machine_ticks() -> dict[str, int]:
    """CPU ticks of all cores since boot by kind, from /proc/stat's first line."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    return {"busy": user + nice + system + irq + softirq, "idle": idle, "iowait": iowait, "steal": steal}


def jvm_of(pid: int) -> int | None:
    """The java process `pid` is or started (a PyFlink job's client starts its MiniCluster JVM)."""
    for candidate in [pid, *processes.descendants(pid)]:
        try:
            if psutil.Process(candidate).name() == "java":
                return candidate
        except psutil.Error:
            continue
    return None


class CpuMeter:
    """CPU seconds per named process between start() and stop(); `threads_of` names the one
    process whose threads are reported too."""

    def __init__(
        self, pids: dict[str, int], threads_of: str | None = None, alone: frozenset[str] = frozenset()
    ) -> None:
        """`alone`: the names measured without their children (this process, which started the job)."""
        self.pids, self.threads_of, self.alone = pids, threads_of, alone

    def _cpu_s(self, name: str) -> float:
        pid = self.pids[name]
        return _cpu_s(pid) if name in self.alone else process_tree_cpu_s(pid)

    def start(self) -> None:
        self.machine_before = machine_ticks()
        self.before = {name: self._cpu_s(name) for name in self.pids}
        self.threads_before = thread_ticks(self.pids[self.threads_of]) if self.threads_of else Counter()
        self.started = os.times().elapsed

    def stop(self, top_threads: int = 8) -> dict[str, object]:
        seconds = os.times().elapsed - self.started
        used = {name: round(self._cpu_s(name) - self.before[name], 1) for name in self.pids}
        figures: dict[str, object] = {
            "window_s": round(seconds, 1),
            "cores_available_s": round(seconds * (os.cpu_count() or 1), 1),
            "cpu_s": used,
            # The whole machine (/proc/stat): what no process above accounts for shows here, and
            # steal is time the hypervisor gave the cores to someone else.
            "machine_s": {
                kind: round((ticks - self.machine_before[kind]) / TICKS_PER_S, 1)
                for kind, ticks in machine_ticks().items()
            },
        }
        if self.threads_of:
            grown = thread_ticks(self.pids[self.threads_of]) - self.threads_before
            figures[f"{self.threads_of}_threads_cpu_s"] = {
                name: round(ticks / TICKS_PER_S, 1) for name, ticks in grown.most_common(top_threads)
            }
        return figures


def stack_meter(name: str, process: processes.PidRecord, others: Mapping[str, int] | None = None) -> CpuMeter:
    """The stack's services, the measured job or consumer as `name` (a job: its JVM, which runs its
    Python operators in thread mode, with its threads), `others` (name -> pid: services started for
    the measurement) and this process (the bench's reader; a backlog is published before the window)."""
    services = registry.selected(stack_config.load())
    pids = {s.name: record.pid for s in services if (record := manager.running_record(s))} | dict(others or {})
    jvm = jvm_of(process.pid)
    pids[name] = jvm or process.pid
    pids["bench reader"] = os.getpid()
    return CpuMeter(pids, threads_of=name if jvm else None, alone=frozenset({"bench reader"}))
