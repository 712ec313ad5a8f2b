"""Stopping a service stops all it spawned, even a child that left its process group."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rtai.stack import processes


def test_stop_reaches_grandchildren_in_and_out_of_the_group(tmp_path):
    script = "sleep 300 & setsid sleep 301 & wait"
    record = processes.spawn(
        ["bash", "-c", script], log_file=tmp_path / "log", pid_file=tmp_path / "pid", env=dict(os.environ), cwd=tmp_path
    )
    deadline = time.monotonic() + 5
    while len(processes.descendants(record.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    children = processes.descendants(record.pid)
    assert len(children) == 2
    assert processes.read_pid_file(tmp_path / "pid") == record

    assert processes.stop(record, timeout_s=5) is True
    assert processes.alive([record.pid, *children]) == []
    assert not processes.is_running(record)


def test_a_pid_file_written_in_clock_ticks_still_names_its_running_process(tmp_path):
    """Pid files written before the creation time replaced clock ticks: a stack running across
    the upgrade is still seen (and stopped) as running."""
    stat = (Path("/proc") / str(os.getpid()) / "stat").read_text()
    ticks = stat[stat.rindex(")") + 2 :].split()[19]
    (tmp_path / "pid").write_text(f"{os.getpid()} {ticks}\n")
    record = processes.read_pid_file(tmp_path / "pid")
    assert record is not None and processes.is_running(record)
    (tmp_path / "pid").write_text(f"{os.getpid()} {int(ticks) + 500}\n")  # another process of this pid
    assert not processes.is_running(processes.read_pid_file(tmp_path / "pid"))
