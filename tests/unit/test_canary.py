"""The in-stream canary's pieces that need no server: which card meets which version, and the verdict."""

from __future__ import annotations

import numpy as np
import pytest

from flink_jobs.config.pipeline_config import CanarySection
from flink_jobs.stages.inference.canary_routing import Routes, card_share, routes
from rtai.models.canary import ERRORS_JUDGED_AFTER, CandidateStats, judge, ks_distance

RULES = CanarySection(candidate_version=2, share=0.25, min_events=100, max_error_rate=0.05, max_score_ks=0.3)


def test_a_card_always_meets_the_same_version_and_the_share_holds():
    cards = list(range(20_000))
    to_candidate = Routes("1", "2").to_candidate(cards, 0.25)
    assert to_candidate.mean() == pytest.approx(0.25, abs=0.01)
    assert (Routes("1", "2").to_candidate(cards, 0.25) == to_candidate).all()
    assert card_share(123456789) == card_share(123456789) and 0 <= card_share(-5) < 1


def test_routes_follow_the_versions_triton_has_loaded():
    assert routes(["1", "2"], 2, 0) == Routes("1", "2")  # the canary runs: each asked for by version
    assert routes(["2"], 2, 0) == Routes("2")  # promoted: the only one
    assert routes(["1"], 2, 0) == Routes("1")  # rolled back, or not started: by number, as the
    # candidate loaded by `canary start` would be Triton's default until the routes are read again
    assert routes([], 2, 0) == Routes("")  # nothing loaded: Triton's answer says why
    assert routes(["1", "3"], 0, 3) == Routes("1", "", "3")  # a shadow beside the champion
    assert routes(["1", "2", "3"], 2, 3) == Routes("1", "2", "3")
    assert not Routes("").to_candidate([1, 2, 3], 0.5).any()


def test_ks_distance_is_zero_for_equal_samples_and_one_for_disjoint_ones():
    a = np.random.default_rng(1).uniform(size=500)
    assert ks_distance(a, a.copy()) == 0.0
    assert ks_distance(a, a + 2.0) == 1.0


def candidate_events(stats: CandidateStats, n: int, score=None, error: str = "") -> None:
    rng = np.random.default_rng(n)
    for value in rng.beta(1, 8, n):
        prediction = {"score": float(value if score is None else score), "champion_score": float(value)}
        stats.add(prediction | {"infer_ms": 4.0} | ({"candidate_error": error} if error else {}))


def test_a_candidate_like_the_champion_is_promoted_after_its_minimum():
    stats = CandidateStats()
    candidate_events(stats, RULES.min_events - 1)
    assert judge(stats, RULES) is None
    candidate_events(stats, 1)
    verdict = judge(stats, RULES)
    assert verdict is not None and (verdict.decision, verdict.reason) == ("promote", "passed")


def test_a_constant_candidate_is_rolled_back_for_its_score_shift():
    stats = CandidateStats()
    candidate_events(stats, RULES.min_events, score=0.5)
    verdict = judge(stats, RULES)
    assert verdict is not None and (verdict.decision, verdict.reason) == ("rollback", "score_shift")


def test_a_failing_candidate_is_rolled_back_before_its_minimum():
    stats = CandidateStats()
    candidate_events(stats, ERRORS_JUDGED_AFTER, error="candidate call failed: unavailable")
    verdict = judge(stats, RULES)
    assert verdict is not None and (verdict.decision, verdict.reason) == ("rollback", "error_rate")
    assert "error rate 1.000" in verdict.detail


def test_a_slow_candidate_is_rolled_back():
    stats = CandidateStats()
    candidate_events(stats, RULES.min_events)
    stats.latencies_ms.extend([RULES.max_latency_p99_ms * 2] * 10)
    verdict = judge(stats, RULES)
    assert verdict is not None and verdict.reason == "latency"


@pytest.mark.parametrize(
    ("field", "value"), [("share", 1.0), ("min_events", 0), ("max_error_rate", 2.0), ("candidate_version", -1)]
)
def test_canary_settings_out_of_range_name_their_field(field, value):
    assert CanarySection(**{field: value}).validate()[0] == field
