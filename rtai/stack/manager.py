"""up, down, status and logs over the stack's services."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass

from flink_jobs.errors import UserFacingError
from flink_jobs.redaction import redact
from rtai.console import done, step
from rtai.stack import processes, scrape_targets, supervisor
from rtai.stack.probes import port_in_use
from rtai.stack.service import Service

LOG_TAIL_LINES = 20


class ServiceStartError(UserFacingError):
    pass


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # up, starting (running but not healthy), down
    ports: dict[str, int]
    pid: int | None

    def line(self) -> str:
        ports = ",".join(f"{role}={port}" for role, port in self.ports.items())
        pid = str(self.pid) if self.pid else "-"
        return f"{self.name:<18} {self.state:<9} {ports:<40} pid={pid}"


def running_record(service: Service) -> processes.PidRecord | None:
    record = processes.read_pid_file(service.pid_file)
    return record if record and processes.is_running(record) else None


def status(service: Service) -> ServiceStatus:
    record = running_record(service)
    if record is None:
        return ServiceStatus(service.name, "down", service.ports, None)
    state = "up" if service.ready() else "starting"
    return ServiceStatus(service.name, state, service.ports, record.pid)


def _log_tail(service: Service) -> str:
    try:
        with service.log_file.open(errors="replace") as log:
            return "".join(deque(log, maxlen=LOG_TAIL_LINES))
    except FileNotFoundError:
        return ""


def _fail(service: Service, reason: str) -> ServiceStartError:
    tail = _log_tail(service)
    if tail:
        print(f"--- last lines of {service.log_file}:\n{redact(tail)}---", file=sys.stderr)
    return ServiceStartError(f"{service.name} {reason}; see its log {service.log_file}")


def start(service: Service) -> None:
    if running_record(service) is not None:
        if service.ready():
            step(f"{service.name} already up")
            scrape_targets.announce(service)
            return
        wait_ready(service)
        return
    for role, port in service.ports.items():
        if port_in_use(port):
            raise ServiceStartError(
                f"{service.name} cannot start: port {port} ({role}) is already in use by another process"
            )
    service.data_dir.mkdir(parents=True, exist_ok=True)
    # Each service's temp files (Feast's metrics folders, Triton's Python backend environments)
    # under its data folder, emptied at start: nothing of the stack's in the system temp folder.
    tmp = service.data_dir / "tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    extra_args = service.prepare() if service.prepare is not None else []
    step(f"starting {service.name} (log: {service.log_file})")
    command = [*service.command, *extra_args]
    processes.spawn(
        supervisor.command_line(service.name, command) if service.supervised else command,
        log_file=service.log_file,
        pid_file=service.pid_file,
        env={**os.environ, "TMPDIR": str(tmp), **(service.env() if callable(service.env) else service.env)},
        cwd=service.cwd,
    )
    wait_ready(service)


def wait_ready(service: Service) -> None:
    started = time.monotonic()
    deadline = started + service.ready_timeout_s
    record = processes.read_pid_file(service.pid_file)
    while time.monotonic() < deadline:
        if service.ready():
            done(f"{service.name} ready", started)
            scrape_targets.announce(service)
            return
        if record is None or processes.exit_code(record) is not None or not processes.is_running(record):
            stop(service, quiet=True)
            raise _fail(service, "exited before it became ready")
        time.sleep(0.5)
    stop(service, quiet=True)
    raise _fail(service, f"was not ready within {service.ready_timeout_s:.0f} s")


def stop(service: Service, *, quiet: bool = False) -> None:
    record = processes.read_pid_file(service.pid_file)
    if record is None or not processes.is_running(record):
        service.pid_file.unlink(missing_ok=True)
        return
    if not quiet:
        step(f"stopping {service.name} (pid {record.pid})")
    clean = processes.stop(record, service.stop_timeout_s)
    if not clean:
        print(
            f"    {service.name} did not stop within {service.stop_timeout_s:.0f} s; killed",
            file=sys.stderr,
        )
    service.pid_file.unlink(missing_ok=True)
    if service.after_stop is not None:
        service.after_stop(clean)


def up(services: list[Service]) -> None:
    """Starts `services`, each as soon as the ones it needs among them are ready: a stack's
    independent servers (Pulsar, Feast, Triton, ZooKeeper) start at once. The first failure, in
    start order, is raised once every start has ended; a service whose need failed is not started."""
    ended = {service.name: threading.Event() for service in services}
    failures: dict[str, Exception] = {}

    def start_when_ready(service: Service) -> None:
        try:
            for need in service.needs:
                if need in ended:
                    ended[need].wait()
                    if need in failures:
                        raise ServiceStartError(f"{service.name} not started: {need} did not start")
            start(service)
        except Exception as err:  # raised by the caller's thread below
            failures[service.name] = err
        finally:
            ended[service.name].set()

    threads = [threading.Thread(target=start_when_ready, args=(s,), daemon=True, name=s.name) for s in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():  # a timed join: Ctrl-C still reaches this thread
            thread.join(0.5)
    for service in services:  # a need comes before its dependants: the first failure is a cause
        if service.name in failures:
            raise failures[service.name]


def down(services: list[Service]) -> None:
    for service in reversed(services):
        stop(service)
