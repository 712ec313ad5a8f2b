"""A contender's interleaved runs as medians with their spread (rtai/benchmarks/repeats.py)."""

from __future__ import annotations

from rtai.benchmarks import repeats


def _rate(rate: float, p50: float, p99: float, *, sustained: bool = True) -> dict:
    latency = {"count": 1000, "p50": p50, "p95": p99 / 2, "p99": p99, "max": p99 * 2}
    return {"rate": rate, "events_per_s": rate, "latency_ms": latency, "sustained": sustained}


def _run(drained: float, rates: list[dict]) -> dict:
    return {"max_sustained": {"events_per_s": drained, "cpu": {"drained": drained}}, "fixed_rates": rates}


def test_the_median_drain_keeps_its_own_cpu_figures_and_the_spread():
    runs = [_run(6000, []), _run(5000, []), _run(7000, [])]
    drain = repeats.combined(runs)["max_sustained"]
    assert drain["events_per_s"] == 6000
    assert drain["cpu"] == {"drained": 6000}
    assert drain["spread"] == {"median": 6000, "min": 5000, "max": 7000}


def test_each_rate_is_the_median_of_its_runs_and_sustained_by_most():
    runs = [
        _run(6000, [_rate(1000, 30, 100), _rate(5000, 400, 900, sustained=False)]),
        _run(6000, [_rate(1000, 40, 300), _rate(5000, 90, 99)]),
        _run(6000, [_rate(1000, 35, 120)]),  # stopped before 5,000/s: counts as not sustained
    ]
    at_1000, at_5000 = repeats.combined(runs)["fixed_rates"]
    assert at_1000["latency_ms"]["p50"] == 35 and at_1000["latency_ms"]["p99"] == 120
    assert at_1000["spread"]["p99"] == {"median": 120, "min": 100, "max": 300}
    assert at_1000["sustained"] and at_1000["sustained_runs"] == "3 of 3"
    assert not at_5000["sustained"] and at_5000["sustained_runs"] == "1 of 3"
    assert at_5000["latency_ms"]["p99"] == (900 + 99) / 2


def test_stage_timings_are_medians_per_stage():
    rows = [_rate(1000, 30, 100) | {"stages_ms": {"source": {"p50": v, "p99": 10 * v}}} for v in (1, 5, 3)]
    combined = repeats.combined([_run(1, [row]) for row in rows])
    assert combined["fixed_rates"][0]["stages_ms"] == {"source": {"p50": 3, "p99": 30}}
