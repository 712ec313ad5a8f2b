"""Starting detached service processes and stopping them with everything they spawned.

Each service runs in its own session (so its process group id is its pid), its
pid and start time are kept in a pid file, and a stop signals the whole group
and any descendant that left it, then waits, then kills what is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from flink_jobs.redaction import redact


@dataclass(frozen=True)
class PidRecord:
    pid: int
    start_ticks: int  # field 22 of /proc/<pid>/stat: tells a reused pid from ours


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces; it ends at the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_running(record: PidRecord) -> bool:
    fields = _stat_fields(record.pid)
    if fields is None or fields[0] == "Z":
        return False
    return int(fields[19]) == record.start_ticks


def write_pid_file(pid_file: Path, record: PidRecord) -> None:
    pid_file.write_text(f"{record.pid} {record.start_ticks}\n")


def read_pid_file(pid_file: Path) -> PidRecord | None:
    try:
        pid, ticks = pid_file.read_text().split()
        return PidRecord(int(pid), int(ticks))
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
    ticks = start_ticks(proc.pid)
    record = PidRecord(proc.pid, ticks if ticks is not None else -1)
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


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def descendants(pid: int) -> list[int]:
    children = _children_map()
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def alive(pids: list[int]) -> list[int]:
    """Those of `pids` still running (zombies waiting to be reaped count as gone)."""
    alive = []
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None and fields[0] != "Z":
            alive.append(pid)
    return alive


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
