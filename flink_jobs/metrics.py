"""Every metric the jobs export: names, units, labels and histogram buckets, in one place.

The operators register them on Flink's metric groups; Flink's Prometheus reporter
(`metrics.reporter.prom.*`, set by the launcher and the cluster's config) serves them as
`flink_taskmanager_job_task_operator_<name>` with Flink's own labels (job_name, operator_name,
subtask_index, ...). Names carry their unit (seconds), counters end in `_total`, and label values
come from fixed sets: a dead letter's reason kind, an alert rule's name, a feature view.

Flink's Python API has no histogram. A histogram here is Prometheus's own layout built from
counters: one cumulative `<name>_bucket` counter per upper bound, the bound in an `le` label (a
Flink key/value group becomes a label, and its key a part of the name:
`..._operator_le_<name>_bucket{le="0.5"}`), and `<name>_count`. So `histogram_quantile` works on
it; infra/prometheus/rules/recording.yml gives the percentiles short names.

In thread mode every update is a call into the JVM: operators record a batch at a time.
"""

from __future__ import annotations

import bisect
import collections
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pyflink.metrics import Counter, MetricGroup

from flink_jobs.clients.call_stats import CallStats

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
FEATURE_AGE_BUCKETS_S = (1.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 6 * 3600.0, 86400.0, 7 * 86400.0, 30 * 86400.0)
SCORE_BUCKETS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
SCORE_DIFFERENCE_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0)
BATCH_SIZE_BUCKETS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0)

# A dead letter's reason, reduced to a label value: the reason's opening words -> its kind.
# The first match wins, so the longer openings come first.
REASON_KINDS = (
    ("late event", "late"),
    ("late label", "late_label"),
    ("malformed", "malformed"),
    ("oversize", "oversize"),
    ("missing field", "missing_field"),
    ("wrong type", "wrong_type"),
    ("invalid event_time", "event_time"),
    ("invalid", "invalid_value"),
    ("model output not finite", "model_output_not_finite"),
)
OTHER_REASON = "other"


def reason_kind(reason: str) -> str:
    for opening, kind in REASON_KINDS:
        if reason.startswith(opening):
            return kind
    return OTHER_REASON


def bucket_label(bound: float) -> str:
    """Prometheus's text for a bucket bound: `+Inf`, `0.5`, `2592000`."""
    if math.isinf(bound):
        return "+Inf"
    return str(int(bound)) if bound.is_integer() else repr(bound)


class Histogram:
    """Cumulative bucket counters and a count, updated once per batch of observations."""

    def __init__(self, group: MetricGroup, name: str, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.buckets: list[Counter] = [
            group.add_group("le", bucket_label(bound)).counter(f"{name}_bucket") for bound in (*self.bounds, math.inf)
        ]
        self.count = group.counter(f"{name}_count")

    def observe(self, values: Iterable[float]) -> None:
        per_bucket = cumulative_counts(self.bounds, values)
        for counter, count in zip(self.buckets, per_bucket, strict=True):
            if count:
                counter.inc(count)
        if per_bucket[-1]:
            self.count.inc(per_bucket[-1])


def cumulative_counts(bounds: Sequence[float], values: Iterable[float]) -> list[int]:
    """How many values are <= each bound, and in all (the +Inf bucket); NaN counts in +Inf only."""
    counts = [0] * (len(bounds) + 1)
    for value in values:
        counts[len(bounds) if math.isnan(value) else bisect.bisect_left(bounds, value)] += 1
    for i in range(1, len(counts)):
        counts[i] += counts[i - 1]
    return counts


class LabeledCounters:
    """One `_total` counter per label value, created on first use (the values come from a fixed set)."""

    def __init__(self, group: MetricGroup, name: str, label: str) -> None:
        self.group, self.name, self.label = group, name, label
        self.counters: dict[str, Counter] = {}

    def inc(self, value: str, n: int = 1) -> None:
        if n:
            counter = self.counters.get(value)
            if counter is None:
                counter = self.counters[value] = self.group.add_group(self.label, value).counter(self.name)
            counter.inc(n)


class CallMetrics:
    """A client's calls to one service (feast, triton): `<service>_request_duration_seconds` of
    answered calls, `<service>_errors_total` failed attempts, `<service>_retries_total`."""

    def __init__(self, group: MetricGroup, service: str) -> None:
        self.duration = Histogram(group, f"{service}_request_duration_seconds", LATENCY_BUCKETS_S)
        self.errors = group.counter(f"{service}_errors_total")
        self.retries = group.counter(f"{service}_retries_total")
        self.reported = CallStats()

    def report(self, *stats: CallStats) -> None:
        """What the clients (one or several to the same service) did since the last report."""
        for one in stats:
            self.duration.observe(one.take_durations())
        errors, retried = sum(one.errors for one in stats), sum(one.retried for one in stats)
        self.errors.inc(errors - self.reported.errors)
        self.retries.inc(retried - self.reported.retried)
        self.reported.errors, self.reported.retried = errors, retried


class ParseMetrics:
    """The first stage of both jobs."""

    def __init__(self, group: MetricGroup) -> None:
        self.events_received = group.counter("events_received_total")
        self.events_valid = group.counter("events_valid_total")
        self.dead_lettered = dead_letters(group)

    def invalid(self, reason: str) -> None:
        self.events_received.inc()
        self.dead_lettered.inc(reason_kind(reason))

    def valid(self) -> None:
        self.events_received.inc()
        self.events_valid.inc()

    def batch(self, valid: int, invalid_reasons: Sequence[str]) -> None:
        """A batch's counts at once (each update is a call into the JVM in thread mode). Most
        batches have no invalid event: no Counter for them (a small batch's largest cost here)."""
        kinds = collections.Counter(reason_kind(reason) for reason in invalid_reasons) if invalid_reasons else {}
        self.events_received.inc(valid + len(invalid_reasons))
        self.events_valid.inc(valid)
        for kind, count in kinds.items():
            self.dead_lettered.inc(kind, count)


class ScoringMetrics:
    """The inference job's batching operator: what it emitted, how long each part took, how old
    the features were and how the scores spread (the baseline for drift)."""

    def __init__(self, group: MetricGroup, cached_views: Iterable[str]) -> None:
        self.group = group
        self.predictions = group.counter("predictions_total")
        # Predictions past their card's rate bound, scored with the card's latest model score.
        self.rate_bound = group.counter("predictions_rate_bound_total")
        self.alerts = LabeledCounters(group, "alerts_total", "rule")
        # Rate-bound transactions a rule selected that got no alert: their card had one within alert_every_s.
        self.alerts_held_back = group.counter("alerts_held_back_total")
        self.dead_lettered = dead_letters(group)
        self.defaults_used = group.counter("predictions_with_default_features_total")
        self.feast_degraded = group.counter("feast_degraded_requests_total")
        self.feast = CallMetrics(group, "feast")
        self.triton = CallMetrics(group, "triton")
        self.cache_hits = {v: group.add_group("view", v).counter("feature_cache_hits_total") for v in cached_views}
        self.cache_misses = {v: group.add_group("view", v).counter("feature_cache_misses_total") for v in cached_views}
        self.batch_size = Histogram(group, "batch_size_events", BATCH_SIZE_BUCKETS)
        self.end_to_end = Histogram(group, "end_to_end_latency_seconds", LATENCY_BUCKETS_S)
        self.in_job = Histogram(group, "in_job_latency_seconds", LATENCY_BUCKETS_S)
        self.feature_ages: dict[str, Histogram] = {}  # per view, made when the view's first ages come
        self.score = Histogram(group, "prediction_score", SCORE_BUCKETS)
        self.versions: dict[str, VersionMetrics] = {}
        self.shadow = ShadowMetrics(group)

    def record_versions(self, batch: dict[str, VersionBatch]) -> None:
        for version, seen in batch.items():
            metrics = self.versions.get(version)
            if metrics is None:
                metrics = self.versions[version] = VersionMetrics(self.group, version)
            metrics.predictions.inc(len(seen.scores))
            metrics.alerts.inc(seen.alerts)
            metrics.score.observe(seen.scores)
            metrics.infer.observe(seen.infer_s)
            metrics.candidate_errors.inc(seen.candidate_errors)

    def feature_age(self, view: str) -> Histogram:
        histogram = self.feature_ages.get(view)
        if histogram is None:
            histogram = Histogram(self.group.add_group("view", view), "feature_age_seconds", FEATURE_AGE_BUCKETS_S)
            self.feature_ages[view] = histogram
        return histogram


class VersionMetrics:
    """One model version's (label `model_version`): the events it scored, the alerts they raised,
    how its scores spread, its Triton calls' time (per event), and, a canary's candidate, its
    events the champion scored instead (`canary_candidate_errors_total`)."""

    def __init__(self, group: MetricGroup, version: str) -> None:
        group = group.add_group("model_version", version)
        self.predictions = group.counter("model_predictions_total")
        self.alerts = group.counter("model_alerts_total")
        self.score = Histogram(group, "model_score", SCORE_BUCKETS)
        self.infer = Histogram(group, "model_infer_duration_seconds", LATENCY_BUCKETS_S)
        self.candidate_errors = group.counter("canary_candidate_errors_total")


class ShadowMetrics:
    """A shadow version's: the events it scored, those whose label agreed with the served one, the
    absolute score difference, its Triton calls' time, and the events it failed to score."""

    def __init__(self, group: MetricGroup) -> None:
        self.predictions = group.counter("shadow_predictions_total")
        self.agreements = group.counter("shadow_agreements_total")
        self.errors = group.counter("shadow_errors_total")
        self.difference = Histogram(group, "shadow_score_difference", SCORE_DIFFERENCE_BUCKETS)
        self.infer = Histogram(group, "shadow_infer_duration_seconds", LATENCY_BUCKETS_S)

    def record(self, agreements: int, differences: list[float], infer_s: list[float], errors: int) -> None:
        self.predictions.inc(len(differences))
        self.agreements.inc(agreements)
        self.errors.inc(errors)
        self.difference.observe(differences)
        self.infer.observe(infer_s)


@dataclass
class VersionBatch:
    """A batch's observations of one model version, recorded at once."""

    scores: list[float] = field(default_factory=list)
    infer_s: list[float] = field(default_factory=list)
    alerts: int = 0
    candidate_errors: int = 0


def dead_letters(group: MetricGroup) -> LabeledCounters:
    """`events_dead_lettered_total{reason}`, for an operator that dead-letters events after parsing."""
    return LabeledCounters(group, "events_dead_lettered_total", "reason")


class PushMetrics:
    """The feature job's pushes to Feast."""

    def __init__(self, group: MetricGroup) -> None:
        self.rows_pushed = group.counter("feature_rows_pushed_total")
        self.pushes = group.counter("feast_pushes_total")
        self.feast = CallMetrics(group, "feast")
