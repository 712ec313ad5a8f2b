"""The retry budget of a service's calls, on tenacity: up to `retries` more attempts after the
first, the backoff doubling from `backoff_s`, each retry counted in the client's CallStats and
logged. An attempt raises Retryable for a failure another attempt may mend; anything else (a
request the server refused) passes through at once. Past the budget the client's `unavailable`
error is raised, naming the call, the attempts and the last problem."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from flink_jobs.clients.call_stats import CallStats

T = TypeVar("T")


class Retryable(Exception):
    """An attempt failed in a way another attempt may mend; the message says how."""


@dataclass(frozen=True)
class RetryPolicy:
    retries: int
    backoff_s: float
    stats: CallStats
    log: logging.Logger
    unavailable: Callable[[str, int, str], Exception]  # (what, attempts, last problem) -> the error to raise

    def call(self, what: str, attempt: Callable[..., T], *args: object) -> T:
        """`attempt(*args)` within the budget."""
        return Retrying(**self._rules(what, self.retries))(attempt, *args)

    async def call_async(self, what: str, attempt: Callable[..., Awaitable[T]], *args: object, retry: bool = True) -> T:
        """`await attempt(*args)` within the budget (`attempt` a coroutine function); one attempt when not `retry`."""
        return await AsyncRetrying(**self._rules(what, self.retries if retry else 0))(attempt, *args)

    def _rules(self, what: str, retries: int) -> dict[str, object]:
        def before_sleep(state: RetryCallState) -> None:
            self.stats.retried += 1
            wait_s = state.next_action.sleep if state.next_action else 0.0
            problem = state.outcome.exception() if state.outcome else None
            self.log.warning(
                "%s failed (%s); retry %d/%d in %.2f s", what, problem, state.attempt_number, retries, wait_s
            )

        def give_up(state: RetryCallState) -> None:
            problem = state.outcome.exception() if state.outcome else None
            raise self.unavailable(what, state.attempt_number, str(problem)) from None

        return {
            "stop": stop_after_attempt(retries + 1),
            "wait": wait_exponential(multiplier=self.backoff_s, exp_base=2, min=self.backoff_s),
            "retry": retry_if_exception_type(Retryable),
            "before_sleep": before_sleep,
            "retry_error_callback": give_up,
        }
