"""Micro-batches inside a keyed Python operator (PyFlink 1.20 has no Python AsyncFunction).

A key's waiting elements are one list in one value state, so a checkpoint holds them and the
Python state cache serves them without a JVM round trip per element (list states cost one).
A batch goes to `process_batch` when it has `max_size` elements or `max_wait_ms` after its
first element arrived, on a processing-time timer: batching adds at most max_wait_ms.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor


class KeyedBatchFunction(KeyedProcessFunction):
    def __init__(self, max_size: int, max_wait_ms: int) -> None:
        self.max_size = max_size
        self.max_wait_ms = max_wait_ms

    def open(self, runtime_context: RuntimeContext) -> None:
        self.waiting = runtime_context.get_state(ValueStateDescriptor("waiting", Types.PICKLED_BYTE_ARRAY()))
        self.deadline = runtime_context.get_state(ValueStateDescriptor("deadline", Types.LONG()))

    def entry(self, value: object) -> object:
        """What waits in the batch for an element; the element itself unless a subclass adds to it."""
        return value

    def process_batch(self, batch: list) -> Iterable:
        """Handles a batch of entries; yields the outputs (and side outputs as (tag, value))."""
        raise NotImplementedError

    def process_element(self, value: object, ctx: KeyedProcessFunction.Context):
        waiting = self.waiting.value() or []
        waiting.append(self.entry(value))
        if len(waiting) >= self.max_size:
            yield from self._flush(waiting, ctx)
            return
        self.waiting.update(waiting)
        if self.deadline.value() is None:
            deadline = ctx.timer_service().current_processing_time() + self.max_wait_ms
            ctx.timer_service().register_processing_time_timer(deadline)
            self.deadline.update(deadline)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        self.deadline.clear()
        yield from self._flush(self.waiting.value() or [], ctx)

    def _flush(self, waiting: list, ctx: KeyedProcessFunction.Context):
        self.waiting.clear()
        pending = self.deadline.value()
        if pending is not None:
            ctx.timer_service().delete_processing_time_timer(pending)
            self.deadline.clear()
        if waiting:
            yield from self.process_batch(waiting)
