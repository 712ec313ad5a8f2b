"""A canary's verdict from the predictions it made: the rules of the pipeline's `[model.canary]`.

Each prediction of a card the candidate serves carries the candidate's score and, beside it, the
champion's score of the same event (`champion_score`); one the champion scored instead says why
(`candidate_error`). So the score shift is measured on the same events, not on two populations
of cards: the Kolmogorov-Smirnov distance between the two score distributions.

Rollback at the first breach: the error rate once ERRORS_JUDGED_AFTER candidate events are in (a
rate over fewer is noise), the Triton calls' p99 and the score shift once min_events are in.
Promotion when min_events are in and nothing breached.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from flink_jobs.config.pipeline_config import CanarySection

ERRORS_JUDGED_AFTER = 20
KEPT_SAMPLES = 100_000  # the latest candidate events' figures a verdict reads


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs."""
    a, b = np.sort(a), np.sort(b)
    points = np.concatenate([a, b])
    gaps = np.searchsorted(a, points, side="right") / len(a) - np.searchsorted(b, points, side="right") / len(b)
    return float(np.abs(gaps).max())


@dataclass
class CandidateStats:
    events: int = 0
    errors: int = 0
    scores: deque[float] = field(default_factory=lambda: deque(maxlen=KEPT_SAMPLES))
    champion_scores: deque[float] = field(default_factory=lambda: deque(maxlen=KEPT_SAMPLES))
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=KEPT_SAMPLES))

    def add(self, prediction: dict) -> None:
        """A prediction of a card the candidate serves."""
        self.events += 1
        if prediction.get("candidate_error"):
            self.errors += 1
            return
        self.scores.append(prediction["score"])
        self.champion_scores.append(prediction["champion_score"])
        self.latencies_ms.append(prediction["infer_ms"])

    @property
    def error_rate(self) -> float:
        return self.errors / self.events if self.events else 0.0

    @property
    def latency_p99_ms(self) -> float:
        return float(np.percentile(self.latencies_ms, 99)) if self.latencies_ms else 0.0

    @property
    def score_ks(self) -> float:
        if not self.scores:
            return 0.0
        return ks_distance(np.array(self.scores), np.array(self.champion_scores))

    def figures(self) -> dict[str, float]:
        return {
            "events": self.events,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 4),
            "latency_p99_ms": round(self.latency_p99_ms, 2),
            "score_ks": round(self.score_ks, 4),
        }


@dataclass(frozen=True)
class Verdict:
    decision: str  # "promote" or "rollback"
    reason: str  # a label value: passed, error_rate, latency, score_shift
    detail: str


def judge(stats: CandidateStats, rules: CanarySection) -> Verdict | None:
    """The verdict on the candidate so far; None while it needs more events."""
    if stats.events >= ERRORS_JUDGED_AFTER and stats.error_rate > rules.max_error_rate:
        detail = f"error rate {stats.error_rate:.3f} > max_error_rate {rules.max_error_rate} ({stats.events} events)"
        return Verdict("rollback", "error_rate", detail)
    if stats.events < rules.min_events:
        return None
    if stats.latency_p99_ms > rules.max_latency_p99_ms:
        detail = f"Triton p99 {stats.latency_p99_ms:.1f} ms > max_latency_p99_ms {rules.max_latency_p99_ms}"
        return Verdict("rollback", "latency", detail)
    if stats.score_ks > rules.max_score_ks:
        detail = f"score KS distance from the champion {stats.score_ks:.3f} > max_score_ks {rules.max_score_ks}"
        return Verdict("rollback", "score_shift", detail)
    detail = (
        f"{stats.events} events: error rate {stats.error_rate:.3f}, p99 {stats.latency_p99_ms:.1f} ms, "
        f"score KS {stats.score_ks:.3f}, all within the rules"
    )
    return Verdict("promote", "passed", detail)
