"""A contender's runs, repeated and interleaved with the others', as one set of figures: the median
of the runs with their spread (min and max). One run on this machine moves 10-40 %, so a
difference inside the spread is no difference."""

from __future__ import annotations

import statistics

PERCENTILES = ("p50", "p95", "p99", "max")


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 1), "min": round(min(values), 1), "max": round(max(values), 1)}


def median_drain(drains: list[dict]) -> dict:
    """The median run's drain (its CPU figures with it; the lower middle one of an even count) and every run's
    rate in `spread`."""
    ranked = sorted(drains, key=lambda d: d["events_per_s"])
    return {**ranked[(len(ranked) - 1) // 2], "spread": spread([d["events_per_s"] for d in drains])}


def median_rates(runs: list[list[dict]]) -> list[dict]:
    """Per rate, the median of the runs that answered events at it; sustained when most runs
    sustained it (a run that stopped before the rate counts as not)."""
    rows = []
    for rate in sorted({row["rate"] for run in runs for row in run}):
        at_rate = [next((row for row in run if row["rate"] == rate), None) for run in runs]
        answered = [row for row in at_rate if row and row["latency_ms"].get("count")]
        if not answered:
            continue
        sustained = sum(1 for row in at_rate if row and row["sustained"])
        latency = {"count": round(statistics.median(row["latency_ms"]["count"] for row in answered))}
        latency |= {p: round(statistics.median(row["latency_ms"][p] for row in answered), 1) for p in PERCENTILES}
        median_row: dict[str, object] = {
            "rate": rate,
            "events_per_s": round(statistics.median(row["events_per_s"] for row in answered), 1),
            "latency_ms": latency,
            "sustained": sustained * 2 > len(runs),
            "sustained_runs": f"{sustained} of {len(runs)}",
            "spread": {p: spread([row["latency_ms"][p] for row in answered]) for p in ("p50", "p99")},
        }
        stages = [row["stages_ms"] for row in answered if "stages_ms" in row]
        if stages:
            median_row["stages_ms"] = {
                stage: {p: round(statistics.median(s[stage][p] for s in stages), 1) for p in ("p50", "p99")}
                for stage in stages[0]
            }
        rows.append(median_row)
    return rows


def combined(runs: list[dict]) -> dict:
    """A contender's runs ({"max_sustained", "fixed_rates"} each) as their medians, the runs kept."""
    return {
        "max_sustained": median_drain([run["max_sustained"] for run in runs]),
        "fixed_rates": median_rates([run["fixed_rates"] for run in runs]),
        "runs": runs,
    }
