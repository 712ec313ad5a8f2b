"""Stopping a service stops all it spawned, even a child that left its process group."""

from __future__ import annotations

import os
import time

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
