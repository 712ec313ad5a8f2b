"""A job's Flink REST API, as a test reads it from outside the job: its id, state, restart count
and checkpoints. A local job serves its own (`-D rest.bind-port=PORT` on its command line); a
cluster's JobManager serves every job it runs."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx

# The JobManager refreshes job metrics every 10 s by default; tests ask for fresher ones.
FRESH_METRICS = ["-D", "metrics.fetcher.update-interval=200"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class JobRest:
    def __init__(self, port: int, job_id: str = "") -> None:
        """The job `job_id` (default: the only one there) at the REST API on this port."""
        self.url = f"http://127.0.0.1:{port}"
        self._job_id = job_id

    def args(self) -> list[str]:
        """The job's command-line flags that serve this API."""
        return ["-D", f"rest.bind-port={self.url.rsplit(':', 1)[1]}", *FRESH_METRICS]

    def _get(self, path: str) -> object:
        return httpx.get(f"{self.url}{path}", timeout=5).raise_for_status().json()

    def job_id(self, timeout_s: float = 120) -> str:
        """The id of the one job this MiniCluster runs, once it is there."""
        deadline = time.monotonic() + timeout_s
        while not self._job_id:
            try:
                jobs = self._get("/jobs")["jobs"]
            except httpx.HTTPError:
                jobs = []
            if jobs:
                self._job_id = jobs[0]["id"]
            else:
                assert time.monotonic() < deadline, f"no job at {self.url} after {timeout_s} s"
                time.sleep(0.5)
        return self._job_id

    def state(self) -> str:
        return self._get(f"/jobs/{self.job_id()}")["state"]

    def wait_running(self, timeout_s: float = 300) -> None:
        """Until the job is RUNNING (a JobManager that does not answer yet counts as not running)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                state = self.state()
            except httpx.HTTPError as error:
                state = str(error)
            if state == "RUNNING":
                return
            assert time.monotonic() < deadline, f"job not RUNNING after {timeout_s} s: {state}"
            time.sleep(1)

    def num_restarts(self) -> int:
        """Flink's `numRestarts` job metric: the failures it handled with a restart."""
        return int(self.job_metric("numRestarts"))

    def job_metric(self, name: str) -> float:
        """A job-level metric (numRestarts, uptime in ms since the job last started running, ...).
        The JobManager answers from its metric store and refreshes it in the background when the
        store is older than the update interval: after a quiet spell the first answer is as old as
        the spell (CI saw an uptime 19 s stale). So one request to start the refresh, and the
        value read once it has had time to land."""
        self._get(f"/jobs/{self.job_id()}/metrics?get={name}")
        time.sleep(0.5)
        deadline = time.monotonic() + 30
        while True:
            values = self._get(f"/jobs/{self.job_id()}/metrics?get={name}")
            if values:
                return float(values[0]["value"])
            assert time.monotonic() < deadline, f"the job reports no {name} metric"
            time.sleep(0.2)

    def wait_for_restarts(self, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.num_restarts() < count:
            assert time.monotonic() < deadline, f"fewer than {count} restarts after {timeout_s} s"
            time.sleep(0.2)

    def latest_completed_checkpoint(self) -> dict | None:
        """The newest completed checkpoint's statistics (`id`, `trigger_timestamp` in epoch ms, ...)."""
        return self._get(f"/jobs/{self.job_id()}/checkpoints")["latest"]["completed"]

    def wait_for_checkpoints(self, more: int, timeout_s: float = 120) -> None:
        """Until `more` checkpoints complete from now on (under exactly-once, what the job wrote
        before now is committed to its topics by then). A JobManager that does not answer yet
        counts as no checkpoint."""

        def latest_id() -> int | None:
            try:
                completed = self.latest_completed_checkpoint()
            except httpx.HTTPError:
                return None
            return completed["id"] if completed else 0

        deadline = time.monotonic() + timeout_s
        while (start := latest_id()) is None:
            assert time.monotonic() < deadline, f"{self.url} did not answer within {timeout_s} s"
            time.sleep(0.5)
        while (latest := latest_id()) is None or latest < start + more:
            assert time.monotonic() < deadline, f"fewer than {more} checkpoints completed within {timeout_s} s"
            time.sleep(0.2)

    def latest_restored_checkpoint(self) -> dict | None:
        """The checkpoint this run of the job restored (`id`, `is_savepoint`, ...); None for a fresh start."""
        return self._get(f"/jobs/{self.job_id()}/checkpoints")["latest"]["restored"]

    def subtask_metric(self, vertex_name: str, metric: str) -> list[int]:
        """One value per subtask of the vertex whose name contains `vertex_name` (e.g. numRecordsIn)."""
        vertices = self._get(f"/jobs/{self.job_id()}")["vertices"]
        vertex = next(v for v in vertices if vertex_name in v["name"])
        names = ",".join(f"{index}.{metric}" for index in range(vertex["parallelism"]))
        answer = self._get(f"/jobs/{self.job_id()}/vertices/{vertex['id']}/metrics?get={names}")
        values = {m["id"]: int(float(m["value"])) for m in answer}
        return [values.get(f"{index}.{metric}", 0) for index in range(vertex["parallelism"])]

    def operator_metric_total(self, metric: str) -> int:
        """An operator metric (a source's pulsar_redeliveries_dropped_total, ...) summed over every
        vertex and subtask that reports it; 0 where none does."""
        total = 0
        for vertex in self._get(f"/jobs/{self.job_id()}")["vertices"]:
            path = f"/jobs/{self.job_id()}/vertices/{vertex['id']}/metrics"
            names = [m["id"] for m in self._get(path) if m["id"].endswith(f".{metric}")]
            if names:
                total += sum(int(float(m["value"])) for m in self._get(f"{path}?get={','.join(names)}"))
        return total

    def operator_metrics(self, fragment: str) -> dict[str, int]:
        """Every operator metric whose id holds `fragment` (its groups and name, e.g.
        "model_version.2.outcome.tp.live_outcomes_total"), summed over subtasks, by id without the subtask."""
        totals: dict[str, int] = {}
        for vertex in self._get(f"/jobs/{self.job_id()}")["vertices"]:
            path = f"/jobs/{self.job_id()}/vertices/{vertex['id']}/metrics"
            names = [m["id"] for m in self._get(path) if fragment in m["id"]]
            if names:
                for m in self._get(f"{path}?get={','.join(names)}"):
                    key = m["id"].split(".", 1)[1]
                    totals[key] = totals.get(key, 0) + int(float(m["value"]))
        return totals

    def stop_with_savepoint(self, folder: Path, timeout_s: float = 120) -> str:
        """Stops the job with a final savepoint in `folder` (Flink's stop: sources first, nothing in
        flight lost); the savepoint's path."""
        body = {"targetDirectory": folder.resolve().as_uri(), "drain": False}
        answer = httpx.post(f"{self.url}/jobs/{self.job_id()}/stop", json=body, timeout=10).raise_for_status().json()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                status = self._get(f"/jobs/{self.job_id()}/savepoints/{answer['request-id']}")
            except httpx.HTTPError:
                # A local job's MiniCluster shuts down once its one job has stopped, at times before
                # the status is read; the savepoint is complete once its _metadata is written.
                written = sorted(folder.glob("savepoint-*/_metadata"))
                if written:
                    return str(written[-1].parent)
                assert time.monotonic() < deadline, f"no savepoint after {timeout_s} s and no REST API at {self.url}"
                time.sleep(0.5)
                continue
            if status["status"]["id"] == "COMPLETED":
                operation = status["operation"]
                assert "location" in operation, f"the savepoint failed: {operation}"
                return operation["location"]
            assert time.monotonic() < deadline, f"no savepoint after {timeout_s} s"
            time.sleep(0.5)
