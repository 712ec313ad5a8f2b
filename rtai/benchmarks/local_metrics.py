"""Metrics kept in the process's own memory, in the shape of PyFlink's MetricGroup as the job's
metrics use it (groups and counters): a peer that runs the job's scoring stage outside Flink
counts what the job counts, at the cost of a Python counter, without a Flink runtime."""

from __future__ import annotations


class LocalCounter:
    def __init__(self) -> None:
        self.count = 0

    def inc(self, n: int = 1) -> None:
        self.count += n

    def dec(self, n: int = 1) -> None:
        self.count -= n

    def get_count(self) -> int:
        return self.count


class LocalMetricGroup:
    def __init__(self) -> None:
        self.groups: dict[tuple[str, str | None], LocalMetricGroup] = {}
        self.counters: dict[str, LocalCounter] = {}

    def add_group(self, name: str, extra: str | None = None) -> LocalMetricGroup:
        return self.groups.setdefault((name, extra), LocalMetricGroup())

    def counter(self, name: str) -> LocalCounter:
        return self.counters.setdefault(name, LocalCounter())
