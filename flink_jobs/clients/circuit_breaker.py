"""A circuit breaker for a dependency the job can do without for a while (Feast).

Closed: calls go through. After `failures` failed calls in a row it opens: for `cooldown_s` no
call is made (the caller degrades at once instead of waiting out timeouts and retries). Then it
lets one call through as a probe: success closes it, failure opens it for another cool-down.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures, self.cooldown_s, self.clock = failures, cooldown_s, clock
        self.failed_in_a_row = 0
        self.opened_at: float | None = None
        self.times_opened = 0

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "open" if self.clock() - self.opened_at < self.cooldown_s else "half-open"

    def allows_call(self) -> bool:
        return self.state != "open"

    def succeeded(self) -> None:
        self.failed_in_a_row, self.opened_at = 0, None

    def failed(self) -> None:
        self.failed_in_a_row += 1
        # A failed probe opens it again at once; a closed breaker after `failures` in a row.
        if self.opened_at is not None or self.failed_in_a_row >= self.failures:
            self.opened_at = self.clock()
            self.times_opened += 1
