"""The circuit breaker's states on a clock the test moves: closed, open for the cool-down, one
probe, closed again on success or open again on failure."""

from __future__ import annotations

from flink_jobs.clients.circuit_breaker import CircuitBreaker
from tests.unit.manual_clock import ManualClock


def test_it_opens_after_the_failures_in_a_row_and_a_success_in_between_resets_the_count():
    clock = ManualClock()
    breaker = CircuitBreaker(failures=3, cooldown_s=10, clock=clock)
    breaker.failed()
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    breaker.failed()
    assert breaker.state == "closed" and breaker.allows_call()
    breaker.failed()
    assert breaker.state == "open" and not breaker.allows_call()
    assert breaker.times_opened == 1


def test_after_the_cool_down_one_probe_closes_it_or_opens_it_again():
    clock = ManualClock()
    breaker = CircuitBreaker(failures=1, cooldown_s=10, clock=clock)
    breaker.failed()
    clock.now += 9.9
    assert not breaker.allows_call()
    clock.now += 0.1
    assert breaker.state == "half-open" and breaker.allows_call()
    breaker.failed()  # the probe failed: another full cool-down
    assert breaker.state == "open" and breaker.times_opened == 2
    clock.now += 10
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.failed_in_a_row == 0
