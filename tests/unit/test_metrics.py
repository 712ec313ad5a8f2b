"""The jobs' metric helpers: Prometheus histogram buckets built from counters, the dead-letter
reason kinds used as a label (a small fixed set, whatever the input), feature ages."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import numpy as np

from flink_jobs.events import InvalidEvent, check_event_time, parse
from flink_jobs.metrics import (
    OTHER_REASON,
    REASON_KINDS,
    ParseMetrics,
    bucket_label,
    cumulative_counts,
    reason_kind,
)
from flink_jobs.stages.enrich.enricher import Enriched, feature_ages_s
from rtai.benchmarks.local_metrics import LocalMetricGroup
from tests.fuzz_inputs import good_event, mutated


def test_buckets_are_cumulative_and_the_last_counts_everything():
    values = [0.001, 0.5, 0.5, 0.7, 7.0, math.inf, math.nan]
    assert cumulative_counts((0.01, 0.5, 1.0), values) == [1, 3, 4, 7]


def test_a_value_on_a_bound_counts_in_that_bucket():
    assert cumulative_counts((1.0, 2.0), [1.0, 2.0]) == [1, 2, 2]


def test_no_values_no_counts():
    assert cumulative_counts((1.0,), []) == [0, 0]


def test_bucket_labels_are_prometheus_text():
    assert [bucket_label(b) for b in (0.005, 0.5, 60.0, 2592000.0, math.inf)] == [
        "0.005",
        "0.5",
        "60",
        "2592000",
        "+Inf",
    ]


def test_every_reason_the_parser_gives_has_a_kind():
    rng = np.random.default_rng(13)
    now = datetime.now(UTC)
    reasons = []
    for i in range(3000):
        raw = mutated(rng, good_event(rng, i, now, 0))
        try:
            event = parse(raw)
            check_event_time(event, time.time_ns() // 1_000_000, 5 * 60_000, 7 * 86_400_000)
        except InvalidEvent as err:
            reasons.append(str(err))
    assert len(reasons) > 2000
    kinds = {reason_kind(r) for r in reasons}
    unknown = [r for r in reasons if reason_kind(r) == OTHER_REASON]
    assert not unknown, unknown[:5]
    assert kinds <= {kind for _, kind in REASON_KINDS}
    assert {"malformed", "oversize", "missing_field", "wrong_type", "event_time", "invalid_value"} <= kinds


def test_the_jobs_own_dead_letter_reasons_have_kinds():
    assert reason_kind("late event: event_time is behind the watermark (max_out_of_orderness_ms)") == "late"
    assert reason_kind("model output not finite: nan (fraud_mlp version 1)") == "model_output_not_finite"
    assert reason_kind("something new") == OTHER_REASON


def test_feature_ages_per_view_whatever_the_timestamp_form():
    now = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC).timestamp()
    rows = [
        Enriched({}, False, {"card_stats": "2026-11-30T11:00:00Z", "merchant_stats": "2026-11-29T12:00:00+00:00"}, ()),
        Enriched({}, False, {"card_stats": "2026-11-30T11:59:30"}, ()),  # no offset: UTC, as Feast writes
        Enriched({}, True, {}, ()),  # no feature present: no age
    ]
    assert feature_ages_s(rows, now) == {"card_stats": [3600.0, 30.0], "merchant_stats": [86400.0]}


def test_a_batch_counts_its_valid_and_dead_lettered_events_by_reason_kind():
    group = LocalMetricGroup()
    metrics = ParseMetrics(group)
    metrics.batch(3, [])
    metrics.batch(2, ["malformed JSON: ...", "late event: ...", "malformed JSON: ..."])
    dead = {extra: g.counters["events_dead_lettered_total"].count for (_, extra), g in group.groups.items()}
    assert group.counters["events_received_total"].count == 8
    assert group.counters["events_valid_total"].count == 5
    assert dead == {"malformed": 2, "late": 1}
