"""Starting detached service processes and stopping them with everything they spawned.

Each service runs in its own session (so its process group id is its pid), its pid and creation
time are kept in a pid file, and a stop signals the whole group and any descendant that left it,
then waits, then kills what is left. The process table is read through psutil.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from flink_jobs.redaction import redact


@dataclass(frozen=True)
class PidRecord:
    pid: int
    created: float  # the process's creation time (psutil): tells a reused pid from ours


def _process(pid: int) -> psutil.Process | None:
    """The process, when it runs (a zombie waiting to be reaped counts as gone)."""
    with contextlib.suppress(psutil.Error):
        process = psutil.Process(pid)
        if process.status() != psutil.STATUS_ZOMBIE:
            return process
    return None


def is_running(record: PidRecord) -> bool:
    process = _process(record.pid)
    return process is not None and abs(process.create_time() - record.created) < 0.01


def write_pid_file(pid_file: Path, record: PidRecord) -> None:
    pid_file.write_text(f"{record.pid} {record.created!r}\n")


def read_pid_file(pid_file: Path) -> PidRecord | None:
    try:
        pid, created = pid_file.read_text().split()
        if created.lstrip("-").isdigit():  # written before 2026-12-05: clock ticks after boot
            return PidRecord(int(pid), int(created) / os.sysconf("SC_CLK_TCK") + psutil.boot_time())
        return PidRecord(int(pid), float(created))
    except (FileNotFoundError, ValueError):
        return None


def spawn(command: list[str], *, log_file: Path, pid_file: Path, env: dict[str, str], cwd: Path) -> PidRecord:
    """Starts `command` detached from this process, output appended to `log_file`."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        # Redacted: a service's flags may carry a key (Triton's restricted APIs take it on the command line).
        log.write(f"\n--- started {time.strftime('%Y-%m-%dT%H:%M:%S')}: {redact(' '.join(command))}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    try:
        record = PidRecord(proc.pid, psutil.Process(proc.pid).create_time())
    except psutil.NoSuchProcess:  # gone already: a record no process matches
        record = PidRecord(proc.pid, -1.0)
    write_pid_file(pid_file, record)
    return record


def exit_code(record: PidRecord) -> int | None:
    """Reaps the process if it is our child and has exited; None while it runs."""
    try:
        pid, status = os.waitpid(record.pid, os.WNOHANG)
    except ChildProcessError:
        return None if is_running(record) else -1
    if pid == 0:
        return None
    return os.waitstatus_to_exitcode(status)


def descendants(pid: int) -> list[int]:
    with contextlib.suppress(psutil.Error):
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    return []


def group_members(pgid: int) -> list[int]:
    members = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
    return members


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def alive(pids: list[int]) -> list[int]:
    """Those of `pids` still running (zombies waiting to be reaped count as gone)."""
    return [pid for pid in pids if _process(pid) is not None]


def stop(record: PidRecord, timeout_s: float) -> bool:
    """SIGTERM to the service and all it spawned; SIGKILL after `timeout_s`.

    Returns True when everything exited within the timeout, False when it had to be killed.
    """
    if not is_running(record):
        return True
    tree = [record.pid, *descendants(record.pid), *group_members(record.pid)]
    tree = list(dict.fromkeys(tree))
    _signal_all(tree, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        exit_code(record)
        if not alive(tree + group_members(record.pid)):
            return True
        time.sleep(0.1)
    survivors = alive(tree + group_members(record.pid) + descendants(record.pid))
    _signal_all(survivors, signal.SIGKILL)
    for _ in range(50):
        exit_code(record)
        if not alive(survivors):
            break
        time.sleep(0.1)
    return False
