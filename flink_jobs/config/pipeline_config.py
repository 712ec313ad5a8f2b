"""The pipeline config file (pipelines/*.toml): topics, features, model, thresholds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

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
    shadow_scores: str = "fraud-shadow-scores"  # a shadow version's scores ([model.shadow])
    action_dead_letter: str = "fraud-alert-actions-dead-letter"  # alerts no action took ([actions])
    labels: str = "fraud-labels"  # confirmed outcomes (chargebacks, reviews), days after the event ([quality_job])
    core_updates: str = "core-updates"  # an edge site's model versions and feature values (rtai edge sync)

    def validate(self) -> tuple[str, str] | None:
        for name in vars(self):
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


MAX_INTRA_OP_THREADS = 256  # onnxruntime threads per model instance: far past any one host's cores


@dataclass(frozen=True)
class ServingSection:
    """What `rtai model register` writes into config.pbtxt: Triton's batching and instances."""

    max_batch_size: int = 1024
    preferred_batch_sizes: tuple[int, ...] = (256, 1024)
    max_queue_delay_us: int = 1000
    instances: int = 1
    intra_op_thread_count: int = 1  # an ONNX model's onnxruntime threads per instance; 0: onnxruntime's choice

    def validate(self) -> tuple[str, str] | None:
        if not 0 <= self.intra_op_thread_count <= MAX_INTRA_OP_THREADS:
            return "intra_op_thread_count", f"must be in 0..{MAX_INTRA_OP_THREADS}, got {self.intra_op_thread_count}"
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
class CanarySection:
    """An in-stream canary: while Triton serves both the champion and candidate_version, the
    inference job scores `share` of the cards (a stable hash of the card: a card always meets one
    version) with the candidate; `rtai model canary watch` judges it on the predictions topic and
    promotes it after min_events of its own, or rolls it back at the first breach."""

    candidate_version: int = 0  # 0: no canary
    share: float = 0.1
    min_events: int = 500  # candidate predictions before a promotion
    max_error_rate: float = 0.01  # candidate calls failed (or not a finite score) / candidate events
    max_latency_p99_ms: float = 100.0  # the candidate's Triton calls
    max_score_ks: float = 0.3  # Kolmogorov-Smirnov distance of its scores from the champion's
    pulsar_token: SecretSource = field(default_factory=SecretSource)  # the watch's Pulsar role's, in the secure profile

    def validate(self) -> tuple[str, str] | None:
        if self.candidate_version < 0:
            return "candidate_version", f"must be a model version (>= 1; 0: no canary), got {self.candidate_version}"
        if not 0.0 < self.share < 1.0:
            return "share", f"must be between 0 and 1, got {self.share}"
        if self.min_events < 1:
            return "min_events", f"must be at least 1, got {self.min_events}"
        for name in ("max_error_rate", "max_score_ks"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                return name, f"must be between 0 and 1, got {getattr(self, name)}"
        if self.max_latency_p99_ms <= 0:
            return "max_latency_p99_ms", f"must be positive, got {self.max_latency_p99_ms}"
        return None


@dataclass(frozen=True)
class ShadowSection:
    """Shadow scoring: while Triton serves `version` beside the champion (`rtai model shadow
    start`), it scores every event too; its scores go to topics.shadow_scores and the shadow_*
    metrics (agreement, score difference, latency), never to the predictions or alerts."""

    version: int = 0  # 0: no shadow

    def validate(self) -> tuple[str, str] | None:
        if self.version < 0:
            return "version", f"must be a model version (>= 1; 0: no shadow), got {self.version}"
        return None


@dataclass(frozen=True)
class ModelSection:
    name: str = "fraud_mlp"
    alert_threshold: float = 0.9
    serving: ServingSection = field(default_factory=ServingSection)
    canary: CanarySection = field(default_factory=CanarySection)
    shadow: ShadowSection = field(default_factory=ShadowSection)
    # With a canary or a shadow configured: how often the inference job reads which versions
    # Triton has loaded (and so starts or stops routing to them).
    versions_refresh_s: float = 2.0

    def validate(self) -> tuple[str, str] | None:
        if not self.name.replace("_", "").replace("-", "").isalnum():
            return "name", f"must be a Triton model name (letters, digits, _ and -), got {self.name!r}"
        if not 0.0 < self.alert_threshold < 1.0:
            return "alert_threshold", f"must be between 0 and 1, got {self.alert_threshold}"
        if self.versions_refresh_s <= 0:
            return "versions_refresh_s", f"must be positive, got {self.versions_refresh_s}"
        if self.shadow.version and self.shadow.version == self.canary.candidate_version:
            return "shadow.version", f"is the canary's candidate_version ({self.shadow.version}): one role per version"
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


MAX_PUSHES_IN_FLIGHT = 16  # merged batches' rows held in memory while pushing, per subtask
MAX_PUSH_LANES = 16  # connections to the feature server, per subtask
MAX_OFFLINE_BATCH_SIZE = 100_000  # offline rows held in memory, and in one /push body (~40 MB), per subtask


PushWriter = Literal["feature-server", "redis"]
PUSH_WRITERS: tuple[str, ...] = get_args(PushWriter)


@dataclass(frozen=True)
class PushSection:
    """The feature job's writes through a Feast PushSource, batched."""

    push_source: str = "card_realtime_push"
    to: Literal["online", "online_and_offline"] = "online"
    batch_size: int = 500
    max_wait_ms: int = 200
    # batching = "java": merged batches left pushing (in order, on one thread) when the call that
    # took them returns, so the next batch is computed meanwhile; 0: each pushed before it returns.
    in_flight: int = 1
    # batching = "java": pushes under way at once, each lane a thread and connection of its own;
    # a card's rows always take the same lane, so they never overtake each other.
    lanes: int = 1
    # feature-server: /push to the Feast feature server ([feature_job.feast]). redis (batching =
    # "java", card_windows = "jvm", to = "online"): the JVM writes the rows into Feast's Redis
    # online store itself, in Feast's layout, with no feature server and no Python ([feature_job.redis]).
    writer: PushWriter = "feature-server"
    # batching = "java", to = "online_and_offline": the offline rows go on a writer of their own, one
    # request at a time with every row queued meanwhile, up to this many (the job waits past them).
    offline_batch_size: int = 20000

    def validate(self) -> tuple[str, str] | None:
        if not self.push_source:
            return "push_source", "must name a Feast PushSource"
        if self.batch_size < 1:
            return "batch_size", f"must be at least 1, got {self.batch_size}"
        if self.max_wait_ms < 1:
            return "max_wait_ms", f"must be at least 1, got {self.max_wait_ms}"
        if not 1 <= self.offline_batch_size <= MAX_OFFLINE_BATCH_SIZE:
            return "offline_batch_size", f"must be in 1..{MAX_OFFLINE_BATCH_SIZE}, got {self.offline_batch_size}"
        if not 0 <= self.in_flight <= MAX_PUSHES_IN_FLIGHT:
            return "in_flight", f"must be in 0..{MAX_PUSHES_IN_FLIGHT}, got {self.in_flight}"
        if not 1 <= self.lanes <= MAX_PUSH_LANES:
            return "lanes", f"must be in 1..{MAX_PUSH_LANES}, got {self.lanes}"
        return None


@dataclass(frozen=True)
class RedisWrites(ServiceCalls):
    """push.writer = "redis": where Feast's Redis online store is (the connection_string of the
    feature repository's feature_store.yaml, as redis://host:port[/db]) and the view the rows
    belong to: its project, name and the entity's join key (one int64 key)."""

    url: str = "redis://127.0.0.1:6379"
    user: str = ""  # an ACL user; "" for the default user
    password: SecretSource = field(default_factory=SecretSource)
    project: str = "fraud_scoring"
    feature_view: str = "card_realtime"
    join_key: str = "card_id"

    def validate(self) -> tuple[str, str] | None:
        if not self.url.startswith("redis://"):
            return "url", f"must be redis://host:port[/db], got {self.url!r}"
        for name in ("project", "feature_view", "join_key"):
            if not getattr(self, name):
                return name, "is required"
        return super().validate()


@dataclass(frozen=True)
class SourceSection:
    """The Pulsar source's fetch: records are handed on after max_fetch_records or max_fetch_time_ms,
    or once no next message came within fetch_idle_ms (0: not before the fetch's end).
    `parallelism`: the source's own (and the parse stage's), at most one per topic partition: a
    non-partitioned topic is one split, and with more source subtasks than that the connector
    (4.1.0-1.18, thread mode) was measured to leave the split unassigned and read nothing."""

    max_fetch_time_ms: int = 100
    max_fetch_records: int = 500
    fetch_idle_ms: int = 0
    parallelism: int = 1

    def validate(self) -> tuple[str, str] | None:
        for name in ("max_fetch_time_ms", "max_fetch_records", "parallelism"):
            if getattr(self, name) < 1:
                return name, f"must be at least 1, got {getattr(self, name)}"
        if not 0 <= self.fetch_idle_ms <= self.max_fetch_time_ms:
            return "fetch_idle_ms", f"must be in 0..max_fetch_time_ms, got {self.fetch_idle_ms}"
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
    # Options of a local run's JVM (the embedded MiniCluster, started with PyFlink's JVM_ARGS),
    # such as its garbage collector. A job submitted to a cluster runs in the TaskManagers' JVMs:
    # there Flink's env.java.opts.taskmanager sets them.
    local_jvm_options: str = ""
    source: SourceSection = field(default_factory=SourceSection)
    # The job's Pulsar role: its token (JWT) from a file or an environment variable, for a broker
    # with token authentication (the secure profile; infra/security/pulsar-roles.toml). Unset: none.
    pulsar_token: SecretSource = field(default_factory=SecretSource)

    def validate(self) -> tuple[str, str] | None:
        if self.checkpoint_interval_ms < 100:
            return "checkpoint_interval_ms", f"must be at least 100, got {self.checkpoint_interval_ms}"
        if any(not option.startswith("-") for option in self.local_jvm_options.split()):
            return "local_jvm_options", f"must be JVM options, each starting with '-', got {self.local_jvm_options!r}"
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
    # java: the inference job's design (the JVM batches raw events per key group; one Python call
    # per batch computes each card's windows in arrival order, one per merged batch pushes to
    # Feast): a card's transaction older than one of the card's already processed is a dead
    # letter, others never wait. python: the earlier design, every transaction held back until
    # the watermark (max_out_of_orderness_ms) passes it, then computed in event-time order.
    batching: Literal["python", "java"] = "java"
    max_batch_size: int = 512  # java: events per key-group batch
    max_wait_ms: int = 10  # java: a batch's longest wait for company (without flush_when_idle)
    flush_when_idle: bool = True  # java: a batch also leaves when the source has nothing more to read
    # java: where each card's windows are computed: jvm (the JVM's keyed state after one Python
    # parse call per fetch) or python (one Python call per key group's batch), as the inference job's.
    card_windows: Literal["python", "jvm"] = "jvm"
    max_out_of_orderness_ms: int = 1000  # python
    # Each card's window history at the end of the backfilled history (a Parquet file `rtai
    # features backfill` writes, from the working directory): a card with no state in the job
    # starts from it, so a fresh job's features go on from the training set's
    # (flink_jobs/stages/features/history_seed.py). "": every card starts empty; a file not there: a warning.
    card_history_seed: str = ""
    feast: FeastCalls = field(default_factory=FeastCalls)
    push: PushSection = field(default_factory=PushSection)
    redis: RedisWrites = field(default_factory=RedisWrites)

    def validate(self) -> tuple[str, str] | None:
        design = (self.batching, self.card_windows, self.push.to)
        if self.push.writer == "redis" and design != ("java", "jvm", "online"):
            return "push.writer", (
                'redis needs batching = "java", card_windows = "jvm" and push.to = "online" (the JVM writes '
                "the online store; offline writes go through Feast), got batching = "
                f"{self.batching!r}, card_windows = {self.card_windows!r}, push.to = {self.push.to!r}"
            )
        if self.max_out_of_orderness_ms < 0:
            return "max_out_of_orderness_ms", f"must be >= 0, got {self.max_out_of_orderness_ms}"
        if self.max_batch_size < 1:
            return "max_batch_size", f"must be at least 1, got {self.max_batch_size}"
        if self.max_wait_ms < 1:
            return "max_wait_ms", f"must be at least 1, got {self.max_wait_ms}"
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
    # The inference job and the scoring API load every key in this Parquet file (the view's
    # batch source; a path from the working directory, the project root) from Feast when they
    # start, and renew them in the background within ttl_s / 2, so a batch waits for Feast only
    # for a key the file does not hold. "", or a file missing or unreadable (a warning): loaded on a miss.
    keys_file: str = ""

    def validate(self) -> tuple[str, str] | None:
        if not self.view:
            return "view", "must name a feature view of the FeatureService"
        if self.ttl_s <= 0:
            return "ttl_s", f"must be positive, got {self.ttl_s}"
        if self.max_entries < 1:
            return "max_entries", f"must be at least 1, got {self.max_entries}"
        return None


@dataclass(frozen=True)
class HotKeys:
    """A per-card rate bound: a card's transactions past max_events_per_minute in its 1-minute
    window (txn_count_1m, the job's own real-time view) skip Feast and Triton and take the score
    the model gave the card's latest scored transaction, marked `"scoring": "rate_bound"` in the
    prediction. 0 turns the bound off. Their alerts (the velocity rule fires on each) come at
    most once per card per alert_every_s of event time, each with the count held back since the
    one before; 0: one per transaction."""

    max_events_per_minute: int = 0
    alert_every_s: float = 60.0

    def validate(self) -> tuple[str, str] | None:
        if self.max_events_per_minute < 0:
            return "max_events_per_minute", f"must be >= 0 (0: no bound), got {self.max_events_per_minute}"
        if self.alert_every_s < 0:
            return "alert_every_s", f"must be >= 0 (0: an alert per transaction), got {self.alert_every_s}"
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
    # Each card's window history at the end of the backfilled history (a Parquet file `rtai
    # features backfill` writes, from the working directory): a card with no state in the job
    # starts from it, so a fresh job's features go on from the training set's
    # (flink_jobs/stages/features/history_seed.py). "": every card starts empty; a file not there: a warning.
    card_history_seed: str = ""
    # Where batches form: java (the JVM batches raw events per key group and merges them again:
    # one Python call per batch and stage) or python (the earlier design: each event crosses into
    # Python per operator; batches wait in keyed state). bench/README.md compares them.
    batching: Literal["python", "java"] = "java"
    # java: where each card's window features are computed. jvm: the JVM's keyed state
    # (java/.../cards/CardWindows.java), after one Python parse call per fetch; python: one
    # Python call per key group's batch parses and computes them. The same state either way (a
    # savepoint moves between them). bench/README.md compares them.
    card_windows: Literal["python", "jvm"] = "jvm"
    # card_windows = "jvm": where transactions are parsed. jvm: in the source's task
    # (java/.../events/StrictTransactions.java), each one in the schema's everyday form; any
    # other message goes to the Python parse, which alone writes dead letters. python: one Python
    # call per fetch parses every message. bench/README.md compares them.
    parse: Literal["python", "jvm"] = "jvm"
    # java: a batch also goes out as soon as the source has nothing more to read (not only after
    # max_wait_ms): no event waits for company at a low rate; under load batches still fill.
    flush_when_idle: bool = True
    # Started and not yet emitted, per subtask; the operator takes events (python) or flushes (java)
    # meanwhile. java: left under way between calls, 0 to wait for each (a model scored in process).
    batches_in_flight: int = 1
    # java: when a batch starts. per_flush: each merged flush is one batch, started by the call
    # that brings it. coalesced: a flush's rows join the batch not yet started, which the scoring
    # thread starts as soon as fewer than batches_in_flight are under way (up to max_batch_size
    # rows): no batch waits for company, and none for a call. held: coalesced, and the JVM
    # (ScoringGate) holds the flushes while the scoring loop has no room, handing them on in one
    # call when it has, and for the batches done when the scoring loop signals one: no Python
    # call per flush.
    # bench/README.md compares them.
    batch_start: Literal["per_flush", "coalesced", "held"] = "coalesced"
    # batch_start = "held": while batches are not taken, how often the JVM looks for the scoring
    # loop's signal that one is done (a byte on a pipe: no call into Python); a scored batch's
    # outputs wait at most this long for it.
    poll_ms: int = 1
    # How long a Python thread of the job runs before one waiting for the interpreter lock gets
    # it (sys.setswitchinterval; CPython's default 5 ms). The parse, the scoring operator and the
    # scoring loop are threads of one interpreter: a Triton answer waits up to this long while
    # another thread computes. bench/README.md compares values.
    python_switch_interval_ms: float = 5.0
    # java: when no other flush followed the last one for this long (a lull, or a low rate), the
    # operator is asked to finish its batches in flight, so their outputs wait no longer than
    # this for the next call; 0: max_wait_ms. bench/README.md measures 3 against max_wait_ms.
    drain_after_ms: int = 3
    # java: the task (thread) that runs the scoring call. shared: chained to the card windows, one
    # thread for both; own: a task of its own from the merger on (the windows' documents cross as
    # strings), so the two cores overlap them. bench/README.md compares them.
    scoring_task: Literal["shared", "own"] = "shared"
    # A started batch not done within this fails the job (restart from the checkpoint): the
    # operator never waits longer, so checkpoints keep completing.
    batch_timeout_ms: int = 30_000
    feast: FeastReads = field(default_factory=FeastReads)
    triton: TritonCalls = field(default_factory=TritonCalls)
    # Who scores: triton (the [inference_job.triton] server) or in_process (onnxruntime in the
    # job's own Python process, on the champion ONNX file of model_repository, Triton's layout:
    # for the smallest boxes, an edge site without Triton; no canary or shadow then).
    serving: Literal["triton", "in_process"] = "triton"
    model_repository: str = "triton_repo"  # in_process: relative to the job's working directory
    cached_views: tuple[CachedView, ...] = ()
    hot_keys: HotKeys = field(default_factory=HotKeys)

    def validate(self) -> tuple[str, str] | None:
        if self.hot_keys.max_events_per_minute and self.realtime_features != "job":
            return "hot_keys", 'max_events_per_minute needs realtime_features = "job" (the card\'s own count)'
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
        # A finished batch's outputs never wait longer than a batch may take to score.
        if not 0 <= self.drain_after_ms <= self.batch_timeout_ms:
            return (
                "drain_after_ms",
                f"must be in 0..batch_timeout_ms ({self.batch_timeout_ms}), got {self.drain_after_ms}",
            )
        # Each in-flight batch is held in memory (and with python batching in keyed state) until
        # emitted; java can wait for each batch in its call (0), python's operator cannot.
        least_in_flight = 0 if self.batching == "java" else 1
        if not least_in_flight <= self.batches_in_flight <= 64:
            return "batches_in_flight", (
                f"must be in {least_in_flight}..64 with batching = {self.batching!r}, got {self.batches_in_flight}"
            )
        if not 0.1 <= self.python_switch_interval_ms <= 100:
            return "python_switch_interval_ms", f"must be in 0.1..100, got {self.python_switch_interval_ms:g}"
        if self.parse == "jvm" and (self.batching, self.card_windows) != ("java", "jvm"):
            return "parse", (
                f'jvm needs batching = "java" and card_windows = "jvm", got batching = {self.batching!r}, '
                f"card_windows = {self.card_windows!r}"
            )
        if self.batch_start != "per_flush" and (self.batching != "java" or self.batches_in_flight < 1):
            return "batch_start", f'{self.batch_start} needs batching = "java" and batches_in_flight >= 1'
        # The JVM's gate, the scoring operator and the splitter share one thread and one process.
        if self.batch_start == "held" and self.python_execution_mode != "thread":
            return "batch_start", f'held needs python_execution_mode = "thread", got {self.python_execution_mode!r}'
        if not 1 <= self.poll_ms <= self.batch_timeout_ms:
            return "poll_ms", f"must be in 1..batch_timeout_ms ({self.batch_timeout_ms}), got {self.poll_ms}"
        # A batch's calls in a row, each with its retries: a shorter bound would cut them short.
        calls_s = self.feast.worst_case_s() + self.triton.worst_case_s()
        if self.batch_timeout_ms / 1000 <= calls_s:
            return "batch_timeout_ms", (
                f"must exceed the Feast and Triton calls' worst case with their retries ({calls_s:g} s: "
                f"timeout_s x (retries + 1) + the backoffs), got {self.batch_timeout_ms}"
            )
        return super().validate()


@dataclass(frozen=True)
class QualityJobSection(JobRuntime):
    """The model-quality job: each label joined to its event's prediction, and the outcomes
    counted per model version (flink_jobs/jobs/model_quality.py). A prediction waits for its label
    until label_window_ms after its event, a label for its prediction as long: the job's state
    holds at most (predictions per second) x label_window_ms / 1000 entries of about 150 bytes
    (1,000/s for a day: about 13 GB, RocksDB's ground, not the heap's). A label later than the
    window is late: dead-lettered and counted, not joined."""

    subscription: str = "fraud-quality-job"
    label_window_ms: int = 86_400_000

    def validate(self) -> tuple[str, str] | None:
        if self.label_window_ms < 1000:
            return "label_window_ms", f"must be at least 1000, got {self.label_window_ms}"
        return super().validate()


@dataclass(frozen=True)
class Rule:
    """An alert when the score is at least min_score, the amount at least min_amount and the
    card's transactions in its last minute (txn_count_1m) at least min_events_per_minute."""

    name: str
    min_score: float
    min_amount: float = 0.0
    min_events_per_minute: int = 0

    def validate(self) -> tuple[str, str] | None:
        if not self.name:
            return "name", "is required"
        if not 0.0 <= self.min_score <= 1.0:
            return "min_score", f"must be between 0 and 1, got {self.min_score}"
        if self.min_amount < 0:
            return "min_amount", f"must be >= 0, got {self.min_amount}"
        if self.min_events_per_minute < 0:
            return "min_events_per_minute", f"must be >= 0, got {self.min_events_per_minute}"
        return None

    def fires(self, score: float, amount: float, events_per_minute: float) -> bool:
        return score >= self.min_score and amount >= self.min_amount and events_per_minute >= self.min_events_per_minute


@dataclass(frozen=True)
class ActionsSection(ServiceCalls):
    """`rtai actions run`: every alert POSTed to `url` (a case-management system), with an
    Idempotency-Key header (the alert's event_id), retried with backoff on a 5xx, a 408, a 429 or
    no answer; past the retries, or refused (another 4xx), to topics.action_dead_letter with why."""

    url: str = ""  # "": no actions
    subscription: str = "alert-actions"
    token: SecretSource = field(default_factory=SecretSource)  # sent as a Bearer token when configured
    pulsar_token: SecretSource = field(default_factory=SecretSource)  # its Pulsar role's, in the secure profile

    def validate(self) -> tuple[str, str] | None:
        if not self.url:
            return None
        if not self.url.startswith(("http://", "https://")):
            return "url", f"must start with http:// or https://, got {self.url!r}"
        return super().validate()


@dataclass(frozen=True)
class ApiFeastReads(FeastReads):
    """The scoring API's Feast reads: well under its deadline, one attempt; a slow Feast costs a
    request its other views (their defaults, marked), never its answer."""

    timeout_s: float = 0.03
    retries: int = 0
    breaker_cooldown_s: float = 5.0
    load_timeout_s: float = 5.0  # a batch view's keys loaded (cached_views' keys_file): off any request's path

    def validate(self) -> tuple[str, str] | None:
        if self.load_timeout_s <= 0:
            return "load_timeout_s", f"must be positive, got {self.load_timeout_s}"
        return super().validate()


@dataclass(frozen=True)
class ScoringApiSection:
    """`rtai serve`: POST /v1/score answers one transaction (or a batch) synchronously, within
    deadline_ms, with the stream's features and model (rtai/serving/)."""

    host: str = "127.0.0.1"
    port: int = 8088
    deadline_ms: float = 50.0  # a request's answer comes within this, a fallback if need be
    # The fallback starts this long before the deadline: its own work and a late wake-up of the
    # server's event loop on a busy machine fit in it (2 ms did not on a loaded 2-core box).
    fallback_margin_ms: float = 10.0
    # in_process: onnxruntime on the model file Triton serves (read from its repository);
    # triton: the served model over gRPC, in_process when Triton misses the deadline.
    scoring: Literal["in_process", "triton"] = "in_process"
    max_batch_size: int = 64  # requests scored together: those that arrived while the last batch ran
    max_cards: int = 1_000_000  # card histories kept (least recently used go; a card's next event starts it anew)
    # Card histories are read from the transactions topic from here: earliest, or `latest` minus
    # history_s (the longest window, 1 h; the running mean then counts from there).
    history: Literal["earliest", "recent"] = "earliest"
    history_s: int = 3600
    token: SecretSource = field(default_factory=SecretSource)  # Bearer token a request must carry, when set
    pulsar_token: SecretSource = field(default_factory=SecretSource)  # its Pulsar role's, in the secure profile
    tls_cert_file: str = ""  # HTTPS with this certificate (PEM) and key
    tls_key_file: str = ""
    feast: ApiFeastReads = field(default_factory=ApiFeastReads)

    def validate(self) -> tuple[str, str] | None:
        if not 1 <= self.port <= 65535:
            return "port", f"must be a TCP port, got {self.port}"
        if self.deadline_ms <= 0:
            return "deadline_ms", f"must be positive, got {self.deadline_ms}"
        if not 0 <= self.fallback_margin_ms < self.deadline_ms:
            return "fallback_margin_ms", f"must be at least 0 and under deadline_ms, got {self.fallback_margin_ms}"
        for name in ("max_batch_size", "max_cards", "history_s"):
            if getattr(self, name) < 1:
                return name, f"must be at least 1, got {getattr(self, name)}"
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            return "tls_cert_file", "HTTPS needs both tls_cert_file and tls_key_file"
        if self.feast.timeout_s * 1000 >= self.deadline_ms:
            return "feast.timeout_s", f"must be under deadline_ms ({self.deadline_ms} ms), got {self.feast.timeout_s} s"
        return None


@dataclass(frozen=True)
class PipelineConfig:
    pulsar: PulsarSection = field(default_factory=PulsarSection)
    topics: TopicsSection = field(default_factory=TopicsSection)
    events: EventsSection = field(default_factory=EventsSection)
    features: FeaturesSection = field(default_factory=FeaturesSection)
    model: ModelSection = field(default_factory=ModelSection)
    feature_job: FeatureJobSection = field(default_factory=FeatureJobSection)
    inference_job: InferenceJobSection = field(default_factory=InferenceJobSection)
    quality_job: QualityJobSection = field(default_factory=QualityJobSection)
    rules: tuple[Rule, ...] = ()
    actions: ActionsSection = field(default_factory=ActionsSection)
    scoring_api: ScoringApiSection = field(default_factory=ScoringApiSection)

    def section_name(self, job: JobRuntime) -> str:
        """The name of a job's section (`inference_job`, ...), for errors that name its fields."""
        return next(name for name in ("feature_job", "inference_job", "quality_job") if getattr(self, name) is job)

    def validate(self) -> tuple[str, str] | None:
        if self.inference_job.serving == "in_process" and self.inference_job.batching != "java":
            # Seen here (2026-12-03): with python batching, importing onnxruntime in the scoring
            # task leaves the job's Python tasks in INITIALIZING; why is not understood yet.
            return "inference_job.serving", 'in_process needs batching = "java" (with "python" the job hung at start)'
        if self.inference_job.serving == "in_process" and (
            self.model.canary.candidate_version or self.model.shadow.version
        ):
            return "inference_job.serving", (
                "in_process scores with the champion only: no [model.canary] candidate_version or [model.shadow] "
                "version (they need Triton)"
            )
        # Training must see what serving sees: a job-computed view is as of the event itself.
        if self.inference_job.realtime_features == "job" and self.features.training_feature_lag_ms != 0:
            return "features.training_feature_lag_ms", (
                "must be 0 when inference_job.realtime_features is 'job' (the job scores each event with "
                f"its card's features as of the event itself), got {self.features.training_feature_lag_ms}"
            )
        return None


def load(path: Path) -> PipelineConfig:
    return load_toml(path, PipelineConfig)
