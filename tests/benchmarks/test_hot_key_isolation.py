"""`make bench-hot-keys`: how much a hot card holds the other cards back, against the same load
with no hot card. Outside `make test` (about 8 minutes); results in bench/results/.

Each run is tests/test_hot_keys.py's inference phases: 400 other cards at 50/s in all, alone and
then beside a burst of 10,000 transactions at 1,000/s. The burst comes either from one card (hot:
past its rate bound it is answered with its latest score, and its velocity alerts come one a
minute) or spread over 2,000 ordinary cards, five each (spread: every one scored by the model,
no rule fires). Three runs of each, interleaved; the figure is the others' p99 during the burst
over their p99 without it, with its median and spread. A hot card is isolated when it holds the
others back no more than the same number of ordinary transactions does."""

from __future__ import annotations

import statistics

import pytest

from rtai.benchmarks import report
from tests.test_hot_keys import (  # noqa: F401 (servers: the fixture, imported to be used here)
    BURST_EVENTS,
    BURST_RATE,
    HOT_CARD,
    OTHER_CARDS,
    SPREAD_CARDS,
    STEADY_RATE,
    assert_one_prediction_each,
    run_inference_job,
    servers,
)

BURSTS = {"hot": [HOT_CARD], "spread": SPREAD_CARDS}
RUNS = [(burst, n) for n in range(1, 4) for burst in BURSTS]  # interleaved: hot, spread, hot, ...
FIGURES: dict[str, list[dict[str, float]]] = {burst: [] for burst in BURSTS}


@pytest.fixture(scope="module", autouse=True)
def results():
    yield
    if all(len(runs) == 3 for runs in FIGURES.values()):
        write_results()


@pytest.mark.parametrize(("burst", "run"), RUNS, ids=[f"{burst}-{n}" for burst, n in RUNS])
def test_the_others_latency_beside_a_burst(stack, servers, tmp_path, burst, run):  # noqa: F811
    done = run_inference_job(stack, servers[0], tmp_path, BURSTS[burst])
    assert_one_prediction_each(done, tmp_path / "job.log")
    without, during = done.others_p99_ms()
    rate_bound = sum(o.scoring == "rate_bound" for o in done.predictions)
    FIGURES[burst].append(
        {
            "others_p99_ms_without": round(without, 1),
            "others_p99_ms_during": round(during, 1),
            "ratio": round(during / without, 2),
            "rate_bound_predictions": rate_bound,
        }
    )
    print(f"\n{burst} run {run}: others' p99 {without:.1f} -> {during:.1f} ms ({during / without:.2f}x)")


def write_results() -> None:
    ratios = {burst: [r["ratio"] for r in runs] for burst, runs in FIGURES.items()}
    summary = {
        burst: {"median": statistics.median(values), "min": min(values), "max": max(values)}
        for burst, values in ratios.items()
    }
    path = report.write(
        "hot-keys",
        {
            "phases": {
                "other_cards": OTHER_CARDS,
                "steady_per_s": STEADY_RATE,
                "burst_events": BURST_EVENTS,
                "burst_per_s": BURST_RATE,
                "spread_cards": len(SPREAD_CARDS),
            },
            "runs": FIGURES,
            "others_p99_during_over_without": summary,
        },
    )
    print("\nthe others' p99 during the burst over without it (median, min-max):")
    for burst, figures in summary.items():
        print(f"  {burst:<7} {figures['median']:.2f}x ({figures['min']:.2f}-{figures['max']:.2f})")
    print(f"written to {path}")
