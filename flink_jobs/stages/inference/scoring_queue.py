"""The scoring stage's batches between the operator's thread and the scoring loop's: added on
the first, started and scored on the second, taken back on the first in the order they came.

`batch_start = "coalesced"` (max_in_flight N): a flush's rows join the batch not yet
started (a new one past max_rows), which the scoring loop starts as soon as fewer than N are
under way, and the next one when a batch is done. So a batch never waits for company (at a low
rate each one holds what came while the previous was scored) and never for the next call to start
it, and under load batches grow to max_rows by themselves.

`batch_start = "per_flush"` (max_in_flight None): every flush is a batch of its own, started
at once; the operator bounds how many are under way by what it waits for when it takes.

A batch's lines ready at once (dead letters, rate-bound answers) leave with it, before its
scored outputs: the operator takes the batches in order, each once its scores are in.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

from flink_jobs.stages.inference.infer import ScoredBatch
from flink_jobs.state_layout import Entry

Scoring = Callable[[list[Entry]], Coroutine[Any, Any, ScoredBatch]]


class Batch:
    """Rows and ready lines in arrival order, then the rows' scores."""

    __slots__ = ("lines", "result", "rows", "started")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.rows: list[Entry] = []
        self.result: Future[ScoredBatch] = Future()
        self.started = False

    @property
    def done(self) -> bool:
        return not self.rows or self.result.done()


class ScoringQueue:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        scoring: Scoring,
        max_rows: int,
        max_in_flight: int | None,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        """`max_in_flight` None: per flush, every add a batch of its own, started at once.
        `on_done`: called on the loop's thread once a batch's result is set."""
        self.loop, self.scoring, self.on_done = loop, scoring, on_done
        self.max_rows, self.max_in_flight = max_rows, max_in_flight
        self.lock = threading.Lock()  # the operator's thread adds and takes, the loop's starts
        self.batches: deque[Batch] = deque()  # the started ones first, the last one open
        self.under_way = 0

    def add(self, lines: list[str], rows: list[Entry]) -> None:
        """On the operator's thread: a flush's ready lines and rows to score, joining the open batch
        when coalescing."""
        with self.lock:
            last = self.batches[-1] if self.batches else None
            full = last is not None and last.rows and len(last.rows) + len(rows) > self.max_rows
            if last is None or last.started or full or self.max_in_flight is None:
                last = Batch()
                self.batches.append(last)
            last.lines.extend(lines)
            last.rows.extend(rows)
        if rows:
            self.loop.call_soon_threadsafe(self._start_waiting)

    def waiting(self) -> int:
        """Batches not yet taken (under way, waiting or open)."""
        return len(self.batches)

    def has_room(self) -> bool:
        """Whether rows added now would start at once (coalescing: fewer than max_in_flight under
        way or about to start)."""
        if self.max_in_flight is None:
            return True
        with self.lock:
            starting = sum(1 for batch in self.batches if batch.rows and not batch.started)
            return self.under_way + starting < self.max_in_flight

    def take(self, wait_for: int, timeout_s: float) -> list[Batch]:
        """On the operator's thread: the batches done, in order; the first `wait_for` waited for
        (up to timeout_s each; TimeoutError past it)."""
        taken: list[Batch] = []
        while True:
            with self.lock:
                if not self.batches:
                    return taken
                oldest = self.batches[0]
                if oldest.done:
                    taken.append(self.batches.popleft())
                    wait_for -= 1
                    continue
            if wait_for <= 0:
                return taken
            oldest.result.result(timeout=timeout_s)  # raises the batch's failure, or TimeoutError

    def _start_waiting(self) -> None:
        """On the loop's thread: every batch with rows that there is room for, oldest first."""
        starting = []
        with self.lock:
            for batch in self.batches:
                if self.max_in_flight is not None and self.under_way >= self.max_in_flight:
                    break
                if batch.rows and not batch.started:
                    batch.started = True
                    self.under_way += 1
                    starting.append(batch)
        for batch in starting:
            task = self.loop.create_task(self.scoring(batch.rows))
            task.add_done_callback(lambda done, batch=batch: self._finished(batch, done))

    def _finished(self, batch: Batch, task: asyncio.Task[ScoredBatch]) -> None:
        with self.lock:
            self.under_way -= 1
        if task.cancelled():
            batch.result.cancel()
        elif task.exception() is not None:
            batch.result.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            batch.result.set_result(task.result())
        if self.on_done is not None:
            self.on_done()
        self._start_waiting()
