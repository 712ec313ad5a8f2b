"""What a client's calls did, kept by the client and read by the operator that reports its
metrics (flink_jobs.metrics.CallMetrics): the client may run on another thread."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class CallStats:
    errors: int = 0  # failed attempts, retried or not
    retried: int = 0  # retries made
    durations_s: deque[float] = field(default_factory=deque)  # answered calls not yet reported

    def answered(self, seconds: float) -> None:
        self.durations_s.append(seconds)

    def take_durations(self) -> list[float]:
        """The durations recorded since the last take (deque pops are safe across threads)."""
        taken = []
        while self.durations_s:
            taken.append(self.durations_s.popleft())
        return taken
