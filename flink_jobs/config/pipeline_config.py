"""The pipeline config file (pipelines/*.toml): topics, features, model, thresholds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from flink_jobs.config.secret_source import SecretSource
from flink_jobs.config.topics import full_name
from flink_jobs.config.typed_config import load_toml


@dataclass(frozen=True)
class PulsarSection:
    service_url: str = "pulsar://127.0.0.1:6650"
    admin_url: str = "http://127.0.0.1:8080"
    # pulsar+ssl:// and https://: the CA certificate (PEM) that signed the broker's; "" trusts
    # the system's CAs. Each job's token is its own ([feature_job.pulsar_token], ...).
    tls_trust_certs_file: str = ""

    def validate(self) -> tuple[str, str] | None:
        if not self.service_url.startswith(("pulsar://", "pulsar+ssl://")):
            return "service_url", f"must start with pulsar:// or pulsar+ssl://, got {self.service_url!r}"
        if not self.admin_url.startswith(("http://", "https://")):
            return "admin_url", f"must start with http:// or https://, got {self.admin_url!r}"
        if self.service_url.startswith("pulsar://") and self.admin_url.startswith("https://"):
            return "admin_url", "is https:// but service_url is plain pulsar://: use pulsar+ssl:// for both or neither"
        return None


@dataclass(frozen=True)
class TopicsSection:
    transactions: str = "transactions"
    dead_letter: str = "transactions-dead-letter"
    predictions: str = "fraud-predictions"
    alerts: str = "fraud-alerts"

    def validate(self) -> tuple[str, str] | None:
        for name in ("transactions", "dead_letter", "predictions", "alerts"):
            try:
                full_name(getattr(self, name))
            except ValueError as err:
                return name, str(err)
        return None


@dataclass(frozen=True)
class EventsSection:
    """The event times both jobs accept, relative to their own clock when the event arrives; an
    event outside the window is a dead letter. Ahead: producers' clock skew (an event far ahead
    would hold the feature job's timers back and skew a card's windows). Behind: the oldest
    backlog a restarted job still scores, within the topic's retention."""

    max_ahead_ms: int = 60_000
    max_behind_ms: int = 7 * 86_400_000

    def validate(self) -> tuple[str, str] | None:
        for name in ("max_ahead_ms", "max_behind_ms"):
            if getattr(self, name) < 0:
                return name, f"must be >= 0, got {getattr(self, name)}"
        return None


@dataclass(frozen=True)
class FeaturesSection:
    service: str = "fraud_scoring_v1"
    realtime_view: str = "card_realtime"  # the service's view of the card window features (card_windows.py)
    training_feature_lag_ms: int = 0

    def validate(self) -> tuple[str, str] | None:
        if not self.service:
            return "service", "must name a Feast FeatureService"
        if not self.realtime_view:
            return "realtime_view", "must name the FeatureService's view of the card window features"
        if self.training_feature_lag_ms < 0:
            return "training_feature_lag_ms", f"must be >= 0, got {self.training_feature_lag_ms}"
        return None


@dataclass(frozen=True)
class ServingSection:
    """What `rtai model register` writes into config.pbtxt: Triton's batching and instances."""

    max_batch_size: int = 1024
    preferred_batch_sizes: tuple[int, ...] = (256, 1024)
    max_queue_delay_us: int = 1000
    instances: int = 1

    def validate(self) -> tuple[str, str] | None:
        if self.max_batch_size < 1:
            return "max_batch_size", f"must be at least 1, got {self.max_batch_size}"
        if not self.preferred_batch_sizes or any(not 1 <= s <= self.max_batch_size for s in self.preferred_batch_sizes):
            return "preferred_batch_sizes", f"each must be in 1..max_batch_size, got {list(self.preferred_batch_sizes)}"
        if self.max_queue_delay_us < 0:
            return "max_queue_delay_us", f"must be >= 0, got {self.max_queue_delay_us}"
        if self.instances < 1:
            return "instances", f"must be at least 1, got {self.instances}"
        return None


@dataclass(frozen=True)
class ModelSection:
    name: str = "fraud_mlp"
    alert_threshold: float = 0.9
    serving: ServingSection = field(default_factory=ServingSection)

    def validate(self) -> tuple[str, str] | None:
        if not self.name.replace("_", "").replace("-", "").isalnum():
            return "name", f"must be a Triton model name (letters, digits, _ and -), got {self.name!r}"
        if not 0.0 < self.alert_threshold < 1.0:
            return "alert_threshold", f"must be between 0 and 1, got {self.alert_threshold}"
        return None


@dataclass(frozen=True)
class ServiceCalls:
    """Calls to a server: each times out after timeout_s and is retried `retries` times with a
    backoff doubling from backoff_ms; past that the job fails and Flink restarts it."""

    url: str = ""
    timeout_s: float = 5.0
    retries: int = 5
    backoff_ms: int = 200
    # TLS (https://, or Triton's gRPC with tls = true): the CA certificate (PEM) that signed the
    # server's; "" trusts the system's CAs.
    ca_file: str = ""

    def validate(self) -> tuple[str, str] | None:
        if not self.url:
            return "url", "is required"
        if self.timeout_s <= 0:
            return "timeout_s", f"must be positive, got {self.timeout_s}"
        for name in ("retries", "backoff_ms"):
            if getattr(self, name) < 0:
                return name, f"must be >= 0, got {getattr(self, name)}"
        return None

    def worst_case_s(self) -> float:
        """The longest one call can take: every attempt timing out, and the backoffs between them."""
        return self.timeout_s * (self.retries + 1) + self.backoff_ms / 1000 * (2**self.retries - 1)


@dataclass(frozen=True)
class FeastCalls(ServiceCalls):
    url: str = "http://127.0.0.1:6566"


@dataclass(frozen=True)
class FeastReads(FeastCalls):
    """The inference job's Feast reads. on_unavailable = "degrade": a request that fails past its
    retries serves the documented defaults (features_missing set) and opens a circuit breaker:
    after breaker_failures such requests in a row, no request for breaker_cooldown_s, then one
    probe. "fail": the job fails and Flink restarts it from the last checkpoint. Either way the
    first batch must reach Feast (it learns the FeatureService's layout from the answer)."""

    # Short: a scoring batch waits for it (at most 1 x 3 + 0.1 + 0.2 = 3.3 s per request).
    timeout_s: float = 1.0
    retries: int = 2
    backoff_ms: int = 100
    on_unavailable: Literal["degrade", "fail"] = "degrade"
    breaker_failures: int = 1
    breaker_cooldown_s: float = 10.0

    def validate(self) -> tuple[str, str] | None:
        if self.breaker_failures < 1:
            return "breaker_failures", f"must be at least 1, got {self.breaker_failures}"
        if self.breaker_cooldown_s <= 0:
            return "breaker_cooldown_s", f"must be positive, got {self.breaker_cooldown_s}"
        return super().validate()


@dataclass(frozen=True)
class PushSection:
    """The feature job's writes through a Feast PushSource, batched."""

    push_source: str = "card_realtime_push"
    to: Literal["online", "online_and_offline"] = "online"
    batch_size: int = 500
    max_wait_ms: int = 200

    def validate(self) -> tuple[str, str] | None:
        if not self.push_source:
            return "push_source", "must name a Feast PushSource"
        if self.batch_size < 1:
            return "batch_size", f"must be at least 1, got {self.batch_size}"
        if self.max_wait_ms < 1:
            return "max_wait_ms", f"must be at least 1, got {self.max_wait_ms}"
        return None


@dataclass(frozen=True)
class SourceSection:
    """The Pulsar source's fetch: records are handed on after max_fetch_records or max_fetch_time_ms.
    `parallelism`: the source's own (and the parse stage's), at most one per topic partition: a
    non-partitioned topic is one split, and with more source subtasks than that the connector
    (4.1.0-1.18, thread mode) was measured to leave the split unassigned and read nothing."""

    max_fetch_time_ms: int = 100
    max_fetch_records: int = 500
    parallelism: int = 1

    def validate(self) -> tuple[str, str] | None:
        for name in ("max_fetch_time_ms", "max_fetch_records", "parallelism"):
            if getattr(self, name) < 1:
                return name, f"must be at least 1, got {getattr(self, name)}"
        return None


@dataclass(frozen=True)
class JobRuntime:
    """What every job sets the same way: where it starts, checkpoints, parallelism and the
    Flink settings of its Python operators (see flink_settings for the keys)."""

    start: Literal["earliest", "latest"] = "earliest"
    checkpoint_interval_ms: int = 10000
    parallelism: int = 1
    max_parallelism: int = 128  # key groups (pipeline.max-parallelism): the most a job can be rescaled to
    # Flink's failure-rate restart strategy: the job fails for good at more than
    # restart_max_failures failures within restart_failure_interval_ms (a rate, not a lifetime
    # budget: a job that fails once a day restarts every time), restarting restart_delay_ms after each.
    restart_max_failures: int = 5
    restart_failure_interval_ms: int = 600_000
    restart_delay_ms: int = 10_000
    watermark_interval_ms: int = 200
    buffer_timeout_ms: int = 100
    python_bundle_size: int = 1000
    python_bundle_time_ms: int = 100
    python_state_cache_size: int = 50_000
    python_execution_mode: Literal["process", "thread"] = "thread"
    source: SourceSection = field(default_factory=SourceSection)
    # The job's Pulsar role: its token (JWT) from a file or an environment variable, for a broker
    # with token authentication (the secure profile; infra/security/pulsar-roles.toml). Unset: none.
    pulsar_token: SecretSource = field(default_factory=SecretSource)

    def validate(self) -> tuple[str, str] | None:
        if self.checkpoint_interval_ms < 100:
            return "checkpoint_interval_ms", f"must be at least 100, got {self.checkpoint_interval_ms}"
        if self.restart_max_failures < 0:
            return "restart_max_failures", f"must be >= 0, got {self.restart_max_failures}"
        if self.restart_delay_ms < 0:
            return "restart_delay_ms", f"must be >= 0, got {self.restart_delay_ms}"
        if self.restart_failure_interval_ms <= self.restart_delay_ms:
            return "restart_failure_interval_ms", (
                f"must be longer than restart_delay_ms ({self.restart_delay_ms}), "
                f"got {self.restart_failure_interval_ms}"
            )
        for name in (
            "parallelism",
            "watermark_interval_ms",
            "buffer_timeout_ms",
            "python_bundle_size",
            "python_bundle_time_ms",
            "python_state_cache_size",
        ):
            if getattr(self, name) < 1:
                return name, f"must be at least 1, got {getattr(self, name)}"
        if not self.parallelism <= self.max_parallelism <= 32768:
            return "max_parallelism", f"must be in parallelism ({self.parallelism})..32768, got {self.max_parallelism}"
        if self.source.parallelism > self.max_parallelism:
            return (
                "source.parallelism",
                f"must be at most max_parallelism ({self.max_parallelism}), got {self.source.parallelism}",
            )
        return None

    def restart_settings(self) -> dict[str, str]:
        return {
            "restart-strategy.type": "failure-rate",
            "restart-strategy.failure-rate.max-failures-per-interval": str(self.restart_max_failures),
            "restart-strategy.failure-rate.failure-rate-interval": f"{self.restart_failure_interval_ms} ms",
            "restart-strategy.failure-rate.delay": f"{self.restart_delay_ms} ms",
        }

    def flink_settings(self) -> dict[str, str]:
        """The Flink configuration keys these fields stand for."""
        return {
            **self.restart_settings(),
            "pipeline.max-parallelism": str(self.max_parallelism),
            "pipeline.auto-watermark-interval": f"{self.watermark_interval_ms} ms",
            "execution.buffer-timeout.interval": f"{self.buffer_timeout_ms} ms",
            "python.fn-execution.bundle.size": str(self.python_bundle_size),
            "python.fn-execution.bundle.time": str(self.python_bundle_time_ms),
            "python.state.cache-size": str(self.python_state_cache_size),
            "python.execution-mode": self.python_execution_mode,
        }


@dataclass(frozen=True)
class FeatureJobSection(JobRuntime):
    subscription: str = "fraud-feature-job"
    max_out_of_orderness_ms: int = 1000
    feast: FeastCalls = field(default_factory=FeastCalls)
    push: PushSection = field(default_factory=PushSection)

    def validate(self) -> tuple[str, str] | None:
        if self.max_out_of_orderness_ms < 0:
            return "max_out_of_orderness_ms", f"must be >= 0, got {self.max_out_of_orderness_ms}"
        return super().validate()


@dataclass(frozen=True)
class TritonCalls(ServiceCalls):
    url: str = "127.0.0.1:8001"
    timeout_s: float = 2.0
    retries: int = 3
    max_in_flight: int = 4
    tls: bool = False  # gRPC over TLS (Triton's --grpc-use-ssl), trusting ca_file

    def validate(self) -> tuple[str, str] | None:
        if self.max_in_flight < 1:
            return "max_in_flight", f"must be at least 1, got {self.max_in_flight}"
        return super().validate()


@dataclass(frozen=True)
class CachedView:
    """A slowly changing feature view the inference job keeps in memory: an entity's values are
    reused for ttl_s after Feast returned them; at most max_entries per view and parallel task,
    the least recently used evicted first."""

    view: str
    join_key: Literal["card_id", "merchant_id"]  # the transaction field that is the view's entity key
    ttl_s: float = 300.0
    max_entries: int = 100_000

    def validate(self) -> tuple[str, str] | None:
        if not self.view:
            return "view", "must name a feature view of the FeatureService"
        if self.ttl_s <= 0:
            return "ttl_s", f"must be positive, got {self.ttl_s}"
        if self.max_entries < 1:
            return "max_entries", f"must be at least 1, got {self.max_entries}"
        return None


@dataclass(frozen=True)
class InferenceJobSection(JobRuntime):
    subscription: str = "fraud-inference-job"
    delivery: Literal["at-least-once", "exactly-once"] = "at-least-once"
    transaction_timeout_ms: int = 60_000
    max_batch_size: int = 512
    max_wait_ms: int = 20
    # job: the real-time view computed in the job's keyed state (realtime_features.py);
    # feast: read from Feast, as the feature job pushed it (seconds behind the event).
    realtime_features: Literal["job", "feast"] = "job"
    batches_in_flight: int = 1  # started and not yet emitted, per subtask; the operator takes events meanwhile
    # A started batch not done within this fails the job (restart from the checkpoint): the
    # operator never waits longer, so checkpoints keep completing.
    batch_timeout_ms: int = 30_000
    feast: FeastReads = field(default_factory=FeastReads)
    triton: TritonCalls = field(default_factory=TritonCalls)
    cached_views: tuple[CachedView, ...] = ()

    def validate(self) -> tuple[str, str] | None:
        views = [cached.view for cached in self.cached_views]
        if len(views) != len(set(views)):
            return "cached_views", f"each view at most once, got {views}"
        # A transaction stays open from one checkpoint to the next and, when the job fails after
        # the checkpoint that pre-committed it, until the restored job commits it: aborted by the
        # broker before that, its outputs are lost.
        least = 2 * self.checkpoint_interval_ms + self.restart_delay_ms
        if self.transaction_timeout_ms < least:
            return "transaction_timeout_ms", (
                f"must be at least twice checkpoint_interval_ms plus restart_delay_ms ({least}), "
                f"and above the time a restart takes, got {self.transaction_timeout_ms}"
            )
        if self.max_batch_size < 1:
            return "max_batch_size", f"must be at least 1, got {self.max_batch_size}"
        if self.max_wait_ms < 1:
            return "max_wait_ms", f"must be at least 1, got {self.max_wait_ms}"
        # Each in-flight batch is held in memory and in keyed state until emitted.
        if not 1 <= self.batches_in_flight <= 64:
            return "batches_in_flight", f"must be in 1..64, got {self.batches_in_flight}"
        # A batch's calls in a row, each with its retries: a shorter bound would cut them short.
        calls_s = self.feast.worst_case_s() + self.triton.worst_case_s()
        if self.batch_timeout_ms / 1000 <= calls_s:
            return "batch_timeout_ms", (
                f"must exceed the Feast and Triton calls' worst case with their retries ({calls_s:g} s: "
                f"timeout_s x (retries + 1) + the backoffs), got {self.batch_timeout_ms}"
            )
        return super().validate()


@dataclass(frozen=True)
class Rule:
    """An alert when the score is at least min_score and the amount at least min_amount."""

    name: str
    min_score: float
    min_amount: float = 0.0

    def validate(self) -> tuple[str, str] | None:
        if not self.name:
            return "name", "is required"
        if not 0.0 <= self.min_score <= 1.0:
            return "min_score", f"must be between 0 and 1, got {self.min_score}"
        if self.min_amount < 0:
            return "min_amount", f"must be >= 0, got {self.min_amount}"
        return None

    def fires(self, score: float, amount: float) -> bool:
        return score >= self.min_score and amount >= self.min_amount


@dataclass(frozen=True)
class PipelineConfig:
    pulsar: PulsarSection = field(default_factory=PulsarSection)
    topics: TopicsSection = field(default_factory=TopicsSection)
    events: EventsSection = field(default_factory=EventsSection)
    features: FeaturesSection = field(default_factory=FeaturesSection)
    model: ModelSection = field(default_factory=ModelSection)
    feature_job: FeatureJobSection = field(default_factory=FeatureJobSection)
    inference_job: InferenceJobSection = field(default_factory=InferenceJobSection)
    rules: tuple[Rule, ...] = ()

    def validate(self) -> tuple[str, str] | None:
        # Training must see what serving sees: a job-computed view is as of the event itself.
        if self.inference_job.realtime_features == "job" and self.features.training_feature_lag_ms != 0:
            return "features.training_feature_lag_ms", (
                "must be 0 when inference_job.realtime_features is 'job' (the job scores each event with "
                f"its card's features as of the event itself), got {self.features.training_feature_lag_ms}"
            )
        return None


def load(path: Path) -> PipelineConfig:
    return load_toml(path, PipelineConfig)
