"""Micro-batches inside a keyed Python operator (PyFlink 1.20 has no Python AsyncFunction).

A key's waiting elements are entries of one map state, so a checkpoint holds them; adding one
costs one state write of that element alone (in thread mode every state access is a call into
the JVM that pickles the whole value: a growing list in a value state would cost O(n) per
element). How many wait and when the batch is due are kept in memory per key: after a restore
the count is read from the state once, and the restored timer flushes what waits. A batch goes
to `process_batch` when it has `max_size` elements or `max_wait_ms` after its first element
arrived, on a processing-time timer: batching adds at most max_wait_ms.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor


class KeyedBatchFunction(KeyedProcessFunction):
    def __init__(self, max_size: int, max_wait_ms: int) -> None:
        self.max_size = max_size
        self.max_wait_ms = max_wait_ms

    def open(self, runtime_context: RuntimeContext) -> None:
        self.waiting = runtime_context.get_map_state(
            MapStateDescriptor("waiting", Types.LONG(), Types.PICKLED_BYTE_ARRAY())
        )
        self.counts: dict[Hashable, int] = {}
        self.deadlines: dict[Hashable, int] = {}
        self.last_sequence = 0

    def entry(self, value: object) -> object:
        """What waits in the batch for an element; the element itself unless a subclass adds to it."""
        return value

    def process_batch(self, batch: list) -> Iterable:
        """Handles a batch of entries; yields the outputs (and side outputs as (tag, value))."""
        raise NotImplementedError

    def _next_sequence(self) -> int:
        # Increasing across restarts too (a clock), so a restored entry is never overwritten.
        self.last_sequence = max(time.time_ns(), self.last_sequence + 1)
        return self.last_sequence

    def process_element(self, value: object, ctx: KeyedProcessFunction.Context):
        key = ctx.get_current_key()
        if key not in self.counts:
            self.counts[key] = sum(1 for _ in self.waiting.keys())  # noqa: SIM118 (a MapState, not a dict)
        self.waiting.put(self._next_sequence(), self.entry(value))
        self.counts[key] += 1
        if self.counts[key] >= self.max_size:
            yield from self._flush(key, ctx)
            return
        if key not in self.deadlines:
            deadline = ctx.timer_service().current_processing_time() + self.max_wait_ms
            ctx.timer_service().register_processing_time_timer(deadline)
            self.deadlines[key] = deadline

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        key = ctx.get_current_key()
        if self.deadlines.get(key) == timestamp:
            del self.deadlines[key]
        yield from self._flush(key, ctx)

    def _flush(self, key: Hashable, ctx: KeyedProcessFunction.Context):
        batch = [entry for _, entry in sorted(self.waiting.items())]
        self.waiting.clear()
        self.counts[key] = 0
        pending = self.deadlines.pop(key, None)
        if pending is not None:
            ctx.timer_service().delete_processing_time_timer(pending)
        if batch:
            yield from self.process_batch(batch)
