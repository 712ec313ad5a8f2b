"""The scoring API under an open-loop load: requests sent at a fixed rate whatever the answers
do (each one's latency counted from the moment it was due, so a slow answer cannot hold the
next requests back and hide its cost), at each rate for measure_s seconds, after warm-up.

On fresh topics with a copy of the pipeline config, `rtai serve` in its own process, the load
generator in this one (kept-alive HTTP/1.1 connections, http_load.py; both on the same machine:
its CPU is in the figures' budget). Per rate:
requests answered per second, p50, p99 and p999 of latency, errors and fallbacks. A rate is
sustained when at least 95 % of it was answered and its p99 stays within the deadline. Beside
the latency the load generator sees, the API's own (`took_ms` in each answer: its handler's
start to its answer), which leaves out the HTTP stack, the connection and the generator itself.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import orjson

from flink_jobs.config import pipeline_config
from flink_jobs.long_lived_objects import freeze_what_is_held
from rtai import derived_pipeline, paths, pipeline_assets
from rtai.console import step
from rtai.generator import population, records, stream

from . import http_load, report

WARM_UP_S = 5.0
SUSTAINED_SHARE = 0.95


class _Connections:
    """Keep-alive connections for the open loop, each lent to one request at a time and opened
    when none is free; one that failed or timed out is closed, not lent again."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.free: list[http_load.Connection] = []
        self.opened: list[http_load.Connection] = []

    async def lend(self) -> http_load.Connection:
        while self.free:
            connection = self.free.pop()
            if not connection.closed_by_server:
                return connection
            connection.close()
        connection = await http_load.Connection.open(self.host, self.port)
        self.opened.append(connection)
        return connection

    def give_back(self, connection: http_load.Connection) -> None:
        self.free.append(connection)

    def close(self) -> None:
        for connection in self.opened:
            connection.close()


def _latencies(rate: float, seconds: float, requests: list[bytes], host: str, port: int) -> dict[str, object]:
    async def run() -> dict[str, object]:
        connections = _Connections(host, port)
        try:
            count = round(rate * seconds)
            latencies: list[float] = []
            took: list[float] = []  # the API's own measure, from its handler's start to its answer
            outcomes = {"errors": 0, "fallbacks": 0}
            started = time.perf_counter()

            async def one(index: int) -> None:
                due = started + index / rate
                try:
                    connection = await connections.lend()
                    status, content = await asyncio.wait_for(connection.send(requests[index % len(requests)]), 5.0)
                except (http_load.HttpError, OSError, TimeoutError):
                    outcomes["errors"] += 1
                    return  # a connection that failed or may still get its answer is not lent again
                connections.give_back(connection)
                if status != 200:
                    outcomes["errors"] += 1
                    return
                latencies.append((time.perf_counter() - due) * 1000)
                body = orjson.loads(content)
                took.append(body["took_ms"])
                if body["scoring"] != "model":
                    outcomes["fallbacks"] += 1

            # Only the requests under way are kept: holding every finished task (its coroutine's
            # frame and answer) made the generator's own full collections scan hundreds of
            # thousands of objects and stall it up to 0.2 s, which the latencies then counted.
            pending: set[asyncio.Task] = set()
            for index in range(count):
                pause = started + index / rate - time.perf_counter()
                if pause > 0:
                    await asyncio.sleep(pause)
                task = asyncio.create_task(one(index))
                pending.add(task)
                task.add_done_callback(pending.discard)
            await asyncio.gather(*pending)
            elapsed = time.perf_counter() - started
        finally:
            connections.close()
        return {
            "target_rate": rate,
            "answered_per_s": round(len(latencies) / elapsed, 1),
            "latency_ms": _percentiles(latencies),
            "in_handler_ms": _percentiles(took),
            **outcomes,
        }

    return asyncio.run(run())


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p99": 0.0, "p999": 0.0}
    p50, p99, p999 = np.percentile(np.array(values), [50, 99, 99.9])
    return {"p50": round(float(p50), 2), "p99": round(float(p99), 2), "p999": round(float(p999), 2)}


def _bodies(count: int) -> list[bytes]:
    """Transactions of the generator's population, times now, event ids unique to this run."""
    people = population.build(1, 20_000)
    start_ms = time.time_ns() // 1_000_000
    prefix = uuid.uuid4().hex[:6]
    # Event times a few seconds apart at most, whatever the count: all within the [events] window.
    return [
        records.to_json(replace(tx, event_id=f"{prefix}-{tx.event_id}"))
        for tx in itertools.islice(stream.events(people, 5, start_ms, 100_000.0), count)
    ]


def run(base: Path, *, rates: list[float], measure_s: float) -> Path:
    pipeline_assets.ensure(pipeline_config.load(base))
    result = measure(base, rates=rates, measure_s=measure_s)
    path = report.write("api", result)
    print(f"maximum sustained: {result['max_sustained_rate']} requests/s; written to {path}")
    return path


def measure(base: Path, *, rates: list[float], measure_s: float) -> dict[str, object]:
    """The API at each rate, on fresh topics (the pipeline's features and model ready)."""
    folder = paths.RUN_DIR / "bench" / f"api-{time.strftime('%Y%m%d-%H%M%S')}"
    run_id = uuid.uuid4().hex[:8]
    pipeline = folder / "pipeline.toml"
    topics = {"transactions": f"bench-api-{run_id}-transactions"}
    config = derived_pipeline.write(base, {"topics": topics}, pipeline)
    port = config.scoring_api.port
    log = folder / "api.log"
    step(f"starting the scoring API on port {port} (log {log})")
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "rtai", "serve", "--pipeline", str(pipeline)], stdout=out, stderr=out
        )
    url = f"http://{config.scoring_api.host}:{port}"
    try:
        _wait_ready(url, server, log)
        host = config.scoring_api.host
        bodies = _bodies(round(max(rates) * (measure_s + WARM_UP_S)) + 1000)
        requests = [http_load.post_request(host, port, "/v1/score", body) for body in bodies]
        freeze_what_is_held()  # the generator's set-up is not scanned by its collections during the runs
        _latencies(min(rates), WARM_UP_S, requests, host, port)
        figures = []
        for rate in rates:
            step(f"{rate:,g} requests/s for {measure_s:g} s")
            measured = _latencies(rate, measure_s, requests, host, port)
            measured["sustained"] = (
                measured["answered_per_s"] >= SUSTAINED_SHARE * rate
                and measured["latency_ms"]["p99"] <= config.scoring_api.deadline_ms
                and measured["errors"] == 0
            )
            print(f"  {measured}")
            figures.append(measured)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    sustained = [f["target_rate"] for f in figures if f["sustained"]]
    return {
        "pipeline": str(base),
        "deadline_ms": config.scoring_api.deadline_ms,
        "scoring": config.scoring_api.scoring,
        "rates": figures,
        "max_sustained_rate": max(sustained) if sustained else None,
        "cpus": os.cpu_count(),
    }


def _wait_ready(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the scoring API exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the scoring API was not ready within 120 s: {log.read_text()[-2000:]}")
