"""Keeps one service process running: restarts it when it exits without being asked to.

`python -m rtai.stack.supervisor --name NAME [--delay-s S] -- COMMAND...` runs COMMAND and, when
it exits (killed with SIGKILL, crashed, stopped by itself), starts it again after the delay, as
systemd's `Restart=always` or a Kubernetes pod would. The stack starts the Flink JobManager and
TaskManager this way: a killed TaskManager comes back and registers again; a killed JobManager
comes back and, with ZooKeeper high availability, recovers its jobs from the last checkpoint.

SIGTERM or SIGINT stops the supervisor: it passes the signal on and waits for the process.
A process that exits `--max-restarts` times within `--window-s` is not started again and the
supervisor exits with its status: a service that cannot start never loops for ever.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections import deque


def _log(name: str, message: str) -> None:
    print(f"--- supervisor[{name}] {time.strftime('%Y-%m-%dT%H:%M:%S')}: {message}", flush=True)


def _exit_status(code: int) -> int:
    """A child's return code as a shell would report it (128 + N for signal N)."""
    return 128 - code if code < 0 else code


def supervise(name: str, command: list[str], delay_s: float, max_restarts: int, window_s: float) -> int:
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def on_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    exits: deque[float] = deque()
    while True:
        child = subprocess.Popen(command)
        code = child.wait()
        if stopping:
            return _exit_status(code)
        now = time.monotonic()
        exits.append(now)
        while exits and exits[0] < now - window_s:
            exits.popleft()
        if len(exits) > max_restarts:
            _log(name, f"exited with status {code}, {len(exits)} times within {window_s:.0f} s: not restarted")
            return _exit_status(code) or 1
        _log(name, f"exited with status {code}; restarting in {delay_s:.0f} s")
        deadline = time.monotonic() + delay_s
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        if stopping:
            return _exit_status(code)


def command_line(name: str, command: list[str]) -> list[str]:
    """`command` under this supervisor, run by the current interpreter."""
    return [sys.executable, "-m", "rtai.stack.supervisor", "--name", name, "--", *command]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="the service's name, for the log lines")
    parser.add_argument("--delay-s", type=float, default=2.0, help="wait before a restart (default 2)")
    parser.add_argument("--max-restarts", type=int, default=5, help="exits within the window tolerated (default 5)")
    parser.add_argument("--window-s", type=float, default=120.0, help="the window for --max-restarts (default 120)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the service's command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (after --)")
    return supervise(args.name, command, args.delay_s, args.max_restarts, args.window_s)


if __name__ == "__main__":
    sys.exit(main())
