"""The scoring queue. Coalescing: rows that come while a batch is under way start together as
soon as it is done, on the scoring loop's own thread. Per flush: every add is a batch, started at
once. Either way batches leave in order with their ready lines."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from flink_jobs.stages.inference.scoring_queue import ScoringQueue


class GatedScoring:
    """A scoring call per batch that answers when the test opens its gate: its rows, doubled."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.started: list[list[int]] = []
        self.gates: list[asyncio.Event] = []
        self.failure: Exception | None = None

    async def __call__(self, rows: list[int]) -> list[int]:
        gate = asyncio.Event()
        self.started.append(list(rows))
        self.gates.append(gate)
        await gate.wait()
        if self.failure is not None:
            raise self.failure
        return [2 * row for row in rows]

    def open(self, index: int) -> None:
        self.loop.call_soon_threadsafe(lambda: self.gates[index].set())


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


def until(condition, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.001)


def test_rows_that_come_while_a_batch_is_under_way_start_together_when_it_is_done(loop):
    scoring = GatedScoring(loop)
    batches = ScoringQueue(loop, scoring, max_rows=100, max_in_flight=1)
    batches.add(["D-first"], [1])
    until(lambda: scoring.started == [[1]])
    batches.add([], [2])
    batches.add(["D-third"], [3, 4])
    assert batches.take(wait_for=0, timeout_s=1) == []  # nothing done yet, and no wait asked for
    time.sleep(0.02)
    assert scoring.started == [[1]]  # the second batch waits for room, not for a call
    scoring.open(0)
    until(lambda: len(scoring.started) == 2)
    assert scoring.started[1] == [2, 3, 4]
    first = batches.take(wait_for=0, timeout_s=1)
    assert [(b.lines, b.rows, b.result.result()) for b in first] == [(["D-first"], [1], [2])]
    scoring.open(1)
    second = batches.take(wait_for=1, timeout_s=1)
    assert [(b.lines, b.rows, b.result.result()) for b in second] == [(["D-third"], [2, 3, 4], [4, 6, 8])]
    assert batches.waiting() == 0


def test_a_batch_holds_at_most_max_rows_and_batches_leave_in_order(loop):
    scoring = GatedScoring(loop)
    batches = ScoringQueue(loop, scoring, max_rows=3, max_in_flight=2)
    batches.add([], [1, 2])
    until(lambda: scoring.started == [[1, 2]])
    batches.add([], [3, 4])
    until(lambda: scoring.started == [[1, 2], [3, 4]])
    batches.add([], [5])
    batches.add([], [6])
    batches.add([], [7, 8])  # past max_rows in the open batch [5, 6]: a batch of its own
    scoring.open(1)
    until(lambda: len(scoring.started) == 3)
    assert scoring.started[2] == [5, 6]
    assert batches.take(wait_for=0, timeout_s=1) == []  # the second is done, not the first: order kept
    scoring.open(0)
    until(lambda: len(scoring.started) == 4)
    assert scoring.started[3] == [7, 8]
    scoring.open(2)
    scoring.open(3)
    done = batches.take(wait_for=batches.waiting(), timeout_s=1)
    assert [b.rows for b in done] == [[1, 2], [3, 4], [5, 6], [7, 8]]
    assert [b.result.result() for b in done] == [[2, 4], [6, 8], [10, 12], [14, 16]]


def test_per_flush_every_add_is_a_batch_started_at_once_and_taken_in_order(loop):
    scoring = GatedScoring(loop)
    batches = ScoringQueue(loop, scoring, max_rows=100, max_in_flight=None)
    batches.add(["D-first"], [1])
    batches.add([], [2])
    batches.add([], [3, 4])
    until(lambda: scoring.started == [[1], [2], [3, 4]])  # none waits for another to be done
    scoring.open(2)
    scoring.open(1)
    assert batches.take(wait_for=0, timeout_s=1) == []  # the first is not done: order kept
    scoring.open(0)
    done = batches.take(wait_for=1, timeout_s=1)
    assert [(b.lines, b.rows) for b in done] == [(["D-first"], [1]), ([], [2]), ([], [3, 4])]
    assert [b.result.result() for b in done] == [[2], [4], [6, 8]]


def test_lines_without_rows_leave_in_turn_without_a_call(loop):
    scoring = GatedScoring(loop)
    batches = ScoringQueue(loop, scoring, max_rows=10, max_in_flight=1)
    batches.add(["D-a"], [])
    assert [b.lines for b in batches.take(wait_for=0, timeout_s=1)] == [["D-a"]]
    assert scoring.started == []


def test_a_failed_call_and_a_late_one_reach_the_operator(loop):
    scoring = GatedScoring(loop)
    batches = ScoringQueue(loop, scoring, max_rows=10, max_in_flight=1)
    batches.add([], [1])
    with pytest.raises(TimeoutError):
        batches.take(wait_for=1, timeout_s=0.05)
    scoring.failure = RuntimeError("Triton unavailable")
    scoring.open(0)
    # Failed while take() waits, take() raises it; failed before, the batch is taken done and its
    # result raises it: either way on the operator's thread. Waiting on the batch's result
    # makes it the second case every time.
    with pytest.raises(RuntimeError, match="Triton unavailable"):
        batches.batches[0].result.result(timeout=1)
    (failed,) = batches.take(wait_for=1, timeout_s=1)
    with pytest.raises(RuntimeError, match="Triton unavailable"):
        failed.result.result()


def test_the_room_and_a_signal_once_each_batch_is_done(loop):
    """held: the room says whether rows added now would start at once, and on_done tells the JVM
    (on the loop's thread) once a batch's result can be taken."""
    scoring = GatedScoring(loop)
    done = threading.Semaphore(0)
    batches = ScoringQueue(loop, scoring, max_rows=100, max_in_flight=1, on_done=done.release)
    assert batches.has_room()
    batches.add([], [1])
    until(lambda: scoring.started == [[1]])
    assert not batches.has_room()
    assert not done.acquire(timeout=0.05)
    scoring.open(0)
    assert done.acquire(timeout=2.0)
    assert [batch.result.result() for batch in batches.take(0, 1.0)] == [[2]]
    assert batches.has_room() and batches.waiting() == 0
