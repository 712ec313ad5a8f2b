"""A labelled prediction's outcome at the alert threshold, and its calibration bin, as counters
per model version (label `model_version`):

- `live_outcomes_total{outcome}`: tp, fp, fn, tn (the prediction's label against the truth);
- per score bin (`bin`: the bin's upper bound, ten of width 0.1): `live_bin_labelled_total`,
  `live_bin_frauds_total` and `live_bin_score_micros_total` (the scores' sum in millionths:
  Flink's counters are integers).

Prometheus computes precision, recall and the expected calibration error over sliding windows
from them (infra/prometheus/rules/recording.yml: rtai:live_*), per version, across subtasks.
"""

from __future__ import annotations

import math

from pyflink.metrics import Counter, MetricGroup

BINS = 10
OUTCOMES = ("tp", "fp", "fn", "tn")


def outcome(predicted: bool, is_fraud: bool) -> str:
    return ("tp" if is_fraud else "fp") if predicted else ("fn" if is_fraud else "tn")


def score_bin(score: float) -> int:
    return min(BINS - 1, max(0, math.floor(score * BINS)))


class VersionOutcomes:
    def __init__(self, group: MetricGroup, version: str) -> None:
        group = group.add_group("model_version", version)
        # All four from the start: a precision of 0 needs its tp series at 0, not absent.
        self.outcomes = {o: group.add_group("outcome", o).counter("live_outcomes_total") for o in OUTCOMES}
        bins = [group.add_group("bin", f"{(b + 1) / BINS:.1f}") for b in range(BINS)]
        self.labelled: list[Counter] = [g.counter("live_bin_labelled_total") for g in bins]
        self.frauds: list[Counter] = [g.counter("live_bin_frauds_total") for g in bins]
        self.score_micros: list[Counter] = [g.counter("live_bin_score_micros_total") for g in bins]

    def count(self, predicted: bool, score: float, is_fraud: bool) -> None:
        self.outcomes[outcome(predicted, is_fraud)].inc()
        b = score_bin(score)
        self.labelled[b].inc()
        self.score_micros[b].inc(round(score * 1_000_000))
        if is_fraud:
            self.frauds[b].inc()
