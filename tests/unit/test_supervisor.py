"""The stack's supervisor with real processes: a killed process is started again, a stop ends
the process and the supervisor, a process that keeps exiting is given up on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from rtai.stack import processes

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def supervisor(*command: str, max_restarts: int = 5) -> subprocess.Popen[str]:
    options = ["--name", "test", "--delay-s", "0.1", "--window-s", "30", "--max-restarts", str(max_restarts)]
    return subprocess.Popen(
        [sys.executable, "-m", "rtai.stack.supervisor", *options, "--", *command],
        stdout=subprocess.PIPE,
        text=True,
    )


def child_of(pid: int, timeout_s: float = 10, other_than: int | None = None) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        children = [c for c in processes.alive(processes.descendants(pid)) if c != other_than]
        if children:
            return children[0]
        time.sleep(0.05)
    raise AssertionError(f"no child of {pid} within {timeout_s} s")


def test_a_killed_process_is_started_again_and_a_stop_ends_both():
    proc = supervisor(*SLEEPER)
    try:
        first = child_of(proc.pid)
        os.kill(first, signal.SIGKILL)
        second = child_of(proc.pid, other_than=first)
        assert second != first
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 128 + signal.SIGTERM  # the process's own status, as a shell reports it
        assert processes.alive([second]) == []
    finally:
        proc.kill()
    assert "exited with status -9; restarting" in proc.stdout.read()


def test_a_process_that_keeps_exiting_is_given_up_on_with_its_status():
    proc = supervisor(sys.executable, "-c", "raise SystemExit(3)", max_restarts=2)
    assert proc.wait(timeout=30) == 3
    log = proc.stdout.read()
    assert log.count("restarting") == 2
    assert "exited with status 3, 3 times within 30 s: not restarted" in log
