"""Micro-batches inside a keyed Python operator, several in flight (PyFlink 1.20 has no Python
AsyncFunction).

A key's waiting elements are entries of one map state, so a checkpoint holds them; adding one
costs one state write of that element alone (in thread mode every state access is a call into
the JVM that pickles the whole value: a growing list in a value state would cost O(n) per
element). How many wait and when the batch is due are kept in memory per key: after a restore
the count is read from the state once, and the restored timer flushes what waits. A batch is
started when it has `max_size` elements or `max_wait_ms` after its first element arrived, on a
processing-time timer: batching adds at most max_wait_ms.

A started batch's work (`start_batch`) may run off the operator's thread and return a Future;
the operator goes on taking elements meanwhile, up to `max_in_flight` batches per key. Until its
outputs are emitted (`finish_batch`, in start order, from the next element or a poll timer every
`poll_ms`), a started batch stays in a second map state, so a checkpoint taken while it is in
flight holds it and a restored job starts it again: nothing is lost, and with exactly-once sinks
nothing is emitted twice. A batch not done `timeout_s` after it started fails the job (BatchTimeout):
the operator never waits longer than that, so checkpoints keep completing, and no batch hangs
unnoticed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Hashable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor

from flink_jobs.entry_ids import EntryIds
from flink_jobs.state_layout import JSON_ENTRIES, STATE_TYPE, EntryLayout


class BatchTimeout(RuntimeError):
    """A started batch was not done within its time."""


@dataclass
class _Started:
    batch_id: int  # its key in the in-flight state
    batch: list
    result: Future
    started_at: float = field(default_factory=time.monotonic)


class KeyedBatchFunction(KeyedProcessFunction):
    # How entries are written to the state (flink_jobs/state_layout.py); a subclass whose entries
    # are not JSON values names its own.
    entry_layout: EntryLayout = JSON_ENTRIES

    def __init__(
        self, max_size: int, max_wait_ms: int, *, max_in_flight: int = 1, poll_ms: int = 1, timeout_s: float = 60.0
    ) -> None:
        self.max_size = max_size
        self.max_wait_ms = max_wait_ms
        self.max_in_flight = max_in_flight
        self.poll_ms = poll_ms
        self.timeout_s = timeout_s

    def open(self, runtime_context: RuntimeContext) -> None:
        self.waiting = runtime_context.get_map_state(MapStateDescriptor("waiting", Types.LONG(), STATE_TYPE))
        self.in_flight = runtime_context.get_map_state(MapStateDescriptor("in_flight", Types.LONG(), STATE_TYPE))
        self.counts: dict[Hashable, int] = {}
        self.deadlines: dict[Hashable, int] = {}
        self.polls: dict[Hashable, int] = {}
        self.started: dict[Hashable, deque[_Started]] = {}
        self.entry_ids = EntryIds()

    def entry(self, value: object) -> object:
        """What waits in the batch for an element; the element itself unless a subclass adds to it."""
        return value

    def start_batch(self, batch: list) -> Future:
        """Starts a batch's work; its result is handed to finish_batch. By default the work is
        all in finish_batch, on the operator's thread."""
        done: Future = Future()
        done.set_result(None)
        return done

    def finish_batch(self, batch: list, result: object) -> Iterable:
        """A started batch's outputs (and side outputs as (tag, value)); `result` is its Future's
        result (a failed Future raises here and fails the job)."""
        raise NotImplementedError

    def _resume(self, key: Hashable) -> None:
        """First sight of a key in this run: counts what waits, restarts what was in flight."""
        if key in self.counts:
            return
        self.counts[key] = sum(1 for _ in self.waiting.keys())  # noqa: SIM118 (a MapState, not a dict)
        self.started[key] = deque()
        for batch_id, raw in sorted(self.in_flight.items()):
            batch = self.entry_layout.decode_batch(raw)
            self.started[key].append(_Started(batch_id, batch, self.start_batch(batch)))

    def process_element(self, value: object, ctx: KeyedProcessFunction.Context):
        key = ctx.get_current_key()
        self._resume(key)
        yield from self._emit_done(key)
        self.waiting.put(self.entry_ids.next(), self.entry_layout.encode(self.entry(value)))
        self.counts[key] += 1
        if self.counts[key] >= self.max_size:
            yield from self._start(key, ctx)
        elif key not in self.deadlines:
            deadline = ctx.timer_service().current_processing_time() + self.max_wait_ms
            ctx.timer_service().register_processing_time_timer(deadline)
            self.deadlines[key] = deadline
        self._poll_later(key, ctx)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        key = ctx.get_current_key()
        self._resume(key)
        if self.polls.get(key) == timestamp:
            del self.polls[key]
        yield from self._emit_done(key)
        # A restored timer has no deadline in memory: it flushes what waits, as it was due.
        deadline = self.deadlines.get(key)
        if (deadline is None or deadline <= timestamp) and self.counts[key]:
            yield from self._start(key, ctx)
        self._poll_later(key, ctx)

    def _poll_later(self, key: Hashable, ctx: KeyedProcessFunction.Context) -> None:
        """While batches are in flight, a timer looks for finished ones even when no element comes."""
        if self.started[key] and key not in self.polls:
            at = ctx.timer_service().current_processing_time() + self.poll_ms
            ctx.timer_service().register_processing_time_timer(at)
            self.polls[key] = at

    def _start(self, key: Hashable, ctx: KeyedProcessFunction.Context):
        batch = [self.entry_layout.decode(raw) for _, raw in sorted(self.waiting.items())]
        self.waiting.clear()
        self.counts[key] = 0
        pending = self.deadlines.pop(key, None)
        if pending is not None:
            ctx.timer_service().delete_processing_time_timer(pending)
        if not batch:
            return
        started = self.started[key]
        while len(started) >= self.max_in_flight:
            yield from self._emit_oldest(key)
        result = self.start_batch(batch)
        if result.done() and not started:  # done at once, nothing before it: no state to keep
            yield from self.finish_batch(batch, result.result())
            return
        batch_id = self.entry_ids.next()
        self.in_flight.put(batch_id, self.entry_layout.encode_batch(batch))
        started.append(_Started(batch_id, batch, result))
        yield from self._emit_done(key)

    def _emit_done(self, key: Hashable):
        started = self.started[key]
        while started and started[0].result.done():
            yield from self._emit_oldest(key)
        if started and time.monotonic() - started[0].started_at > self.timeout_s:
            raise self._timed_out(started[0])

    def _emit_oldest(self, key: Hashable):
        """Emits the oldest started batch, waiting for it if it is not done (backpressure), at
        most until its timeout."""
        oldest = self.started[key][0]
        remaining = self.timeout_s - (time.monotonic() - oldest.started_at)
        try:
            result = oldest.result.result(timeout=max(0.0, remaining))
        except FutureTimeout:
            raise self._timed_out(oldest) from None
        self.started[key].popleft()
        yield from self.finish_batch(oldest.batch, result)
        self.in_flight.remove(oldest.batch_id)

    def _timed_out(self, batch: _Started) -> BatchTimeout:
        return BatchTimeout(
            f"a batch of {len(batch.batch)} was not done {self.timeout_s:g} s after it started: failing the job, "
            "which restarts from its last checkpoint with the batch"
        )
