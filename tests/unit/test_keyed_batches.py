"""The keyed batching mechanism's rules: a batch at max_size or at its deadline, per key, in
arrival order, nothing lost across a restore.

Flink's runtime is replaced here by an in-memory keyed context (map state per key, a processing
time timer service), so the rules of KeyedBatchFunction itself are checked in milliseconds; the
integration tests run the same operator inside real Flink jobs."""

from __future__ import annotations

from flink_jobs.keyed_batches import KeyedBatchFunction


class MapState:
    def __init__(self) -> None:
        self.data: dict = {}

    def keys(self):
        return list(self.data)

    def put(self, key, value) -> None:
        self.data[key] = value

    def items(self):
        return list(self.data.items())

    def clear(self) -> None:
        self.data.clear()


class KeyedRuntime:
    """Map state per key, one clock, the registered processing-time timers per key."""

    def __init__(self) -> None:
        self.states: dict[object, MapState] = {}
        self.timers: dict[object, set[int]] = {}
        self.now = 1_000
        self.key: object = None

    # RuntimeContext
    def get_map_state(self, descriptor):
        runtime = self

        class Current:
            def __getattr__(self, name):
                return getattr(runtime.states.setdefault(runtime.key, MapState()), name)

        return Current()

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
    def process_batch(self, batch: list):
        yield list(batch)


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
    assert runtime.states["a"].data == {}


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
    assert runtime.states["b"].data != {}
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
