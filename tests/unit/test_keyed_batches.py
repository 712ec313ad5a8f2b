"""The keyed batching mechanism's rules: a batch at max_size or at its deadline, per key, in
arrival order, nothing lost across a restore.

Flink's runtime is replaced here by an in-memory keyed context (map state per key, a processing
time timer service), so the rules of KeyedBatchFunction itself are checked in milliseconds; the
integration tests run the same operator inside real Flink jobs."""

from __future__ import annotations

import re
import time
from concurrent.futures import Future

import pytest

from flink_jobs.keyed_batches import BatchTimeout, KeyedBatchFunction
from flink_jobs.state_layout import JSON_ENTRIES


class MapState:
    def __init__(self) -> None:
        self.data: dict = {}

    def keys(self):
        return list(self.data)

    def put(self, key, value) -> None:
        self.data[key] = value

    def items(self):
        return list(self.data.items())

    def remove(self, key) -> None:
        del self.data[key]

    def clear(self) -> None:
        self.data.clear()


class KeyedRuntime:
    """Map states per name and key, one clock, the registered processing-time timers per key."""

    def __init__(self) -> None:
        self.states: dict[str, dict[object, MapState]] = {}
        self.timers: dict[object, set[int]] = {}
        self.now = 1_000
        self.key: object = None

    # RuntimeContext
    def get_map_state(self, descriptor):
        runtime, by_key = self, self.states.setdefault(descriptor.get_name(), {})

        class Current:
            def __getattr__(self, name):
                return getattr(by_key.setdefault(runtime.key, MapState()), name)

        return Current()

    def waiting(self, key) -> dict:
        return self.states["waiting"].get(key, MapState()).data

    def in_flight(self, key) -> dict:
        """The batches in flight, as their state entries decode."""
        stored = self.states["in_flight"].get(key, MapState()).data
        return {batch_id: JSON_ENTRIES.decode_batch(raw) for batch_id, raw in stored.items()}

    # Context and TimerService
    def get_current_key(self):
        return self.key

    def timer_service(self):
        return self

    def current_processing_time(self) -> int:
        return self.now

    def register_processing_time_timer(self, timestamp: int) -> None:
        self.timers.setdefault(self.key, set()).add(timestamp)

    def delete_processing_time_timer(self, timestamp: int) -> None:
        self.timers.get(self.key, set()).discard(timestamp)


class Collect(KeyedBatchFunction):
    def finish_batch(self, batch: list, result: None):
        yield list(batch)


class CollectLater(KeyedBatchFunction):
    """Each started batch's work is a Future the test completes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.work: list[Future] = []

    def start_batch(self, batch: list) -> Future:
        self.work.append(Future())
        return self.work[-1]

    def finish_batch(self, batch: list, result: str):
        yield (result, list(batch))


def started(max_size: int, max_wait_ms: int, runtime: KeyedRuntime) -> Collect:
    function = Collect(max_size, max_wait_ms)
    function.open(runtime)
    return function


def send(function: Collect, runtime: KeyedRuntime, key: object, value: object) -> list:
    runtime.key = key
    return list(function.process_element(value, runtime))


def fire(function: Collect, runtime: KeyedRuntime, key: object, timestamp: int) -> list:
    runtime.key, runtime.now = key, timestamp
    runtime.timers[key].discard(timestamp)
    return list(function.on_timer(timestamp, runtime))


def test_a_batch_goes_at_max_size_in_arrival_order_and_its_deadline_is_dropped():
    runtime = KeyedRuntime()
    function = started(3, 50, runtime)
    assert send(function, runtime, "a", 1) == []
    assert runtime.timers["a"] == {1_050}  # the first element's arrival + max_wait_ms
    assert send(function, runtime, "a", 2) == []
    assert send(function, runtime, "a", 3) == [[1, 2, 3]]
    assert runtime.timers["a"] == set()
    assert runtime.waiting("a") == {}
    assert runtime.in_flight("a") == {}  # done at once: never in the in-flight state


def test_a_partial_batch_goes_at_its_deadline():
    runtime = KeyedRuntime()
    function = started(100, 50, runtime)
    send(function, runtime, "a", "x")
    runtime.now += 30
    send(function, runtime, "a", "y")
    assert runtime.timers["a"] == {1_050}  # one deadline per batch, from its first element
    assert fire(function, runtime, "a", 1_050) == [["x", "y"]]
    assert send(function, runtime, "a", "z") == []
    assert runtime.timers["a"] == {1_100}  # the next batch gets a deadline of its own


def test_keys_batch_independently():
    runtime = KeyedRuntime()
    function = started(2, 50, runtime)
    assert send(function, runtime, "a", 1) == []
    assert send(function, runtime, "b", 10) == []
    assert send(function, runtime, "a", 2) == [[1, 2]]
    assert runtime.waiting("b") != {}
    assert fire(function, runtime, "b", 1_050) == [[10]]


def test_after_a_restore_the_waiting_elements_count_and_come_first():
    runtime = KeyedRuntime()
    before = started(3, 50, runtime)
    send(before, runtime, "a", 1)
    send(before, runtime, "a", 2)
    # A restart: a new operator instance over the restored state (counts and deadlines were in memory).
    after = started(3, 50, runtime)
    assert send(after, runtime, "a", 3) == [[1, 2, 3]]


def test_a_timer_with_nothing_waiting_emits_nothing():
    runtime = KeyedRuntime()
    function = started(2, 50, runtime)
    send(function, runtime, "a", 1)
    send(function, runtime, "a", 2)  # flushed by size; a timer restored from a checkpoint may still fire
    runtime.timers["a"] = {1_050}
    assert fire(function, runtime, "a", 1_050) == []


def test_the_operator_takes_elements_while_batches_are_in_flight_and_emits_them_in_start_order():
    runtime = KeyedRuntime()
    function = CollectLater(2, 50, max_in_flight=3, poll_ms=1)
    function.open(runtime)
    assert send(function, runtime, "a", 1) == []
    assert send(function, runtime, "a", 2) == []  # batch [1, 2] started, not done
    assert list(runtime.in_flight("a").values()) == [[1, 2]]
    assert 1_001 in runtime.timers["a"]  # a poll timer looks for its end
    assert send(function, runtime, "a", 3) == []
    assert send(function, runtime, "a", 4) == []  # batch [3, 4] started too
    function.work[1].set_result("second")
    assert fire(function, runtime, "a", 1_001) == []  # the second is done, but the first goes first
    function.work[0].set_result("first")
    assert fire(function, runtime, "a", 1_002) == [("first", [1, 2]), ("second", [3, 4])]
    assert runtime.in_flight("a") == {}
    assert runtime.timers["a"] == set()  # nothing in flight: no more polling


def test_at_max_in_flight_the_next_batch_waits_for_the_oldest():
    runtime = KeyedRuntime()
    function = CollectLater(1, 50, max_in_flight=1)
    function.open(runtime)
    send(function, runtime, "a", 1)
    function.work[0].set_result("done")
    # The second batch can start only once the first is emitted.
    assert send(function, runtime, "a", 2) == [("done", [1])]
    assert list(runtime.in_flight("a").values()) == [[2]]


def test_a_batch_in_flight_at_a_checkpoint_is_started_again_after_a_restore():
    runtime = KeyedRuntime()
    before = CollectLater(2, 50, max_in_flight=2)
    before.open(runtime)
    send(before, runtime, "a", 1)
    send(before, runtime, "a", 2)
    send(before, runtime, "a", 3)
    # Killed here: [1, 2] in flight, 3 waiting. A new instance over the same state:
    after = CollectLater(2, 50, max_in_flight=2)
    after.open(runtime)
    assert fire(after, runtime, "a", 1_050) == []  # restarts [1, 2]; 3 becomes a batch of its own
    assert len(after.work) == 2
    after.work[0].set_result("again")
    after.work[1].set_result("last")
    assert fire(after, runtime, "a", 1_051) == [("again", [1, 2]), ("last", [3])]
    assert runtime.in_flight("a") == {} and runtime.waiting("a") == {}


def test_a_batch_not_done_in_time_fails_the_operator_even_when_nothing_arrives():
    runtime = KeyedRuntime()
    function = CollectLater(1, 50, max_in_flight=2, poll_ms=1, timeout_s=0.05)
    function.open(runtime)
    send(function, runtime, "a", 1)  # started; its work never ends
    assert fire(function, runtime, "a", 1_001) == []  # polled within its time: nothing yet
    time.sleep(0.06)
    with pytest.raises(BatchTimeout, match=re.escape("a batch of 1 was not done 0.05 s after it started")):
        fire(function, runtime, "a", 1_002)
    assert list(runtime.in_flight("a").values()) == [[1]]  # kept for the restart from the checkpoint


def test_at_max_in_flight_the_operator_waits_for_the_oldest_at_most_its_timeout():
    runtime = KeyedRuntime()
    function = CollectLater(1, 50, max_in_flight=1, timeout_s=0.2)
    function.open(runtime)
    send(function, runtime, "a", 1)
    waited_from = time.monotonic()
    with pytest.raises(BatchTimeout):
        send(function, runtime, "a", 2)
    assert 0.15 < time.monotonic() - waited_from < 1.0
