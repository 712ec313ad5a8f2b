"""The two scaling rules the project's deployments use, as their documentation states them, so a
load can be replayed through them before anything is deployed (replay.py) and the local scaling
loop applies the same arithmetic.

- HpaRule: Kubernetes' HorizontalPodAutoscaler on an external metric with a per-replica target
  (KEDA's Pulsar scaler: the subscription backlog per replica). desired = ceil(current x
  metric / (target x current)), nothing when the ratio is within the tolerance (0.1), a scale-down
  only to the highest recommendation of the stabilization window (300 s), within min and max.
- FlinkAutoscalerRule: the Flink Kubernetes Operator's job autoscaler for a source vertex. The
  target rate is the input rate plus the backlog over the catch-up duration; the true processing
  rate of one subtask is what it processed over its busy time; parallelism = ceil(target rate /
  (true rate x target utilization)), rounded up to a divisor of the max parallelism (key groups
  evenly spread) when one is at most the max; nothing while the utilization is within the
  target's boundary, or within the stabilization interval of the last rescale; a scale-down by
  at most scale_down_max_factor.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


@dataclass
class HpaRule:
    target_per_replica: float  # e.g. backlog messages per replica
    min_replicas: int = 1
    max_replicas: int = 10
    tolerance: float = 0.1
    scale_down_stabilization_s: float = 300.0
    _recommendations: deque[tuple[float, int]] = field(default_factory=deque, repr=False)

    def desired(self, now_s: float, replicas: int, metric_total: float) -> int:
        ratio = metric_total / (self.target_per_replica * replicas)
        recommended = replicas if abs(ratio - 1.0) <= self.tolerance else math.ceil(replicas * ratio)
        recommended = min(max(recommended, self.min_replicas), self.max_replicas)
        self._recommendations.append((now_s, recommended))
        while self._recommendations[0][0] < now_s - self.scale_down_stabilization_s:
            self._recommendations.popleft()
        if recommended < replicas:  # down only as far as the window's highest recommendation
            return min(replicas, max(r for _, r in self._recommendations))
        return recommended


@dataclass
class FlinkAutoscalerRule:
    max_parallelism: int = 128
    min_parallelism: int = 1
    vertex_max_parallelism: int = 8
    target_utilization: float = 0.7
    utilization_boundary: float = 0.3
    catch_up_s: float = 300.0
    stabilization_s: float = 300.0
    scale_down_max_factor: float = 0.6
    _last_rescale_s: float | None = field(default=None, repr=False)

    def desired(
        self, now_s: float, parallelism: int, input_rate: float, backlog: float, busy: float, processed_rate: float
    ) -> int:
        """`busy`: the vertex's busy fraction (0-1, busyTimeMsPerSecond / 1000); `processed_rate`:
        records/s the vertex processed (all subtasks) while that busy."""
        if self._last_rescale_s is not None and now_s - self._last_rescale_s < self.stabilization_s:
            return parallelism
        if busy <= 0 or processed_rate <= 0:
            return parallelism
        low = self.target_utilization - self.utilization_boundary
        high = self.target_utilization + self.utilization_boundary
        target_rate = input_rate + backlog / self.catch_up_s
        utilization = target_rate / (processed_rate / busy)
        if low <= utilization <= high:
            return parallelism
        true_rate_per_subtask = processed_rate / busy / parallelism
        wanted = math.ceil(target_rate / (true_rate_per_subtask * self.target_utilization))
        if wanted < parallelism:
            wanted = max(wanted, math.ceil(parallelism * (1 - self.scale_down_max_factor)))
        wanted = self._key_group_aligned(min(max(wanted, self.min_parallelism), self.vertex_max_parallelism))
        if wanted != parallelism:
            self._last_rescale_s = now_s
        return wanted

    def _key_group_aligned(self, wanted: int) -> int:
        for candidate in range(wanted, self.vertex_max_parallelism + 1):
            if self.max_parallelism % candidate == 0:
                return candidate
        return wanted
