"""The stack's ports and timeouts, read from infra/stack.toml (or $RTAI_STACK_CONFIG)."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from flink_jobs.config.typed_config import ConfigError, load_toml
from flink_jobs.jobs import MODULES
from rtai import paths
from rtai.stack.profiles import STACK_CONFIG_VARIABLE

DEFAULT_STACK_CONFIG = paths.INFRA_DIR / "stack.toml"


def _port_problem(**ports: int) -> tuple[str, str] | None:
    for name, port in ports.items():
        if not 1 <= port <= 65535:
            return name, f"not a TCP port: {port}"
    return None


@dataclass(frozen=True)
class PulsarConfig:
    broker_port: int = 6650
    web_port: int = 8080
    broker_tls_port: int = 6651  # the secure profile's ports (the two above are then closed)
    web_tls_port: int = 8443
    bookie_port: int = 3181
    ready_timeout_s: float = 180.0
    heap: str = "1g"
    # Its cluster's name (geo-replication tells sites apart by it) and the IPv4 address it binds
    # and advertises: loopback on one box; a site's own address when another site replicates
    # to or from it (rtai edge link).
    cluster: str = "standalone"
    address: str = "127.0.0.1"

    def validate(self) -> tuple[str, str] | None:
        if not re.fullmatch(r"[A-Za-z0-9][\w.-]*", self.cluster):
            return "cluster", f"not a Pulsar cluster name: {self.cluster!r}"
        try:
            ipaddress.IPv4Address(self.address)
        except ValueError:
            return "address", f"not an IPv4 address: {self.address!r}"
        return _port_problem(
            broker_port=self.broker_port,
            web_port=self.web_port,
            broker_tls_port=self.broker_tls_port,
            web_tls_port=self.web_tls_port,
            bookie_port=self.bookie_port,
        )


@dataclass(frozen=True)
class TritonConfig:
    # false: `rtai stack up` starts no Triton (an edge site whose job scores in its own process:
    # [inference_job] serving = "in_process"); `rtai stack up triton` still does.
    enabled: bool = True
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    model_repository: str = "triton_repo"
    ready_timeout_s: float = 120.0

    def validate(self) -> tuple[str, str] | None:
        return _port_problem(http_port=self.http_port, grpc_port=self.grpc_port, metrics_port=self.metrics_port)

    def repository_path(self) -> Path:
        return (paths.PROJECT_ROOT / self.model_repository).resolve()


# The feature repository's profiles: one feature_store.yaml per online store.
FEATURE_STORE_YAML = {"sqlite": "feature_store.yaml", "redis": "feature_store.redis.yaml"}


@dataclass(frozen=True)
class FeastConfig:
    port: int = 6566
    metrics_port: int = 6567
    workers: int = 2
    feature_repo: str = "feature_repo"
    online_store: str = "sqlite"
    ready_timeout_s: float = 120.0

    def validate(self) -> tuple[str, str] | None:
        if self.workers < 1:
            return "workers", f"must be at least 1, got {self.workers}"
        if self.online_store not in FEATURE_STORE_YAML:
            return "online_store", f"must be one of {', '.join(FEATURE_STORE_YAML)}, got {self.online_store!r}"
        return _port_problem(port=self.port, metrics_port=self.metrics_port)

    def repo_path(self) -> Path:
        return (paths.PROJECT_ROOT / self.feature_repo).resolve()

    def feature_store_yaml(self) -> Path:
        return self.repo_path() / FEATURE_STORE_YAML[self.online_store]


@dataclass(frozen=True)
class RedisConfig:
    enabled: bool = False
    port: int = 6379
    exporter_port: int = 9121

    def validate(self) -> tuple[str, str] | None:
        return _port_problem(port=self.port, exporter_port=self.exporter_port)


HIGH_AVAILABILITY = ("zookeeper", "none")
FLINK_MODES = ("session", "reactive")
TASKMANAGER_PORT_STEP = 100  # TaskManager n's metrics port: taskmanager_metrics_port + (n - 1) * this


@dataclass(frozen=True)
class FlinkConfig:
    enabled: bool = False
    rest_port: int = 8081
    rpc_port: int = 6123
    jobmanager_metrics_port: int = 9249
    taskmanager_metrics_port: int = 9250  # TaskManager n >= 2: this + (n - 1) * TASKMANAGER_PORT_STEP
    job_watch_port: int = 9251
    taskmanager_slots: int = 4
    high_availability: str = "zookeeper"
    ready_timeout_s: float = 120.0
    mode: str = "session"
    application_job: str = "inference"
    application_pipeline: str = "pipelines/fraud.toml"  # relative to the project's folder
    taskmanagers: int = 1
    max_taskmanagers: int = 4

    def taskmanager_port(self, number: int) -> int:
        """The metrics port of TaskManager `number` (from 1)."""
        return self.taskmanager_metrics_port + (number - 1) * TASKMANAGER_PORT_STEP

    def validate(self) -> tuple[str, str] | None:
        if self.taskmanager_slots < 1:
            return "taskmanager_slots", f"must be at least 1, got {self.taskmanager_slots}"
        if self.mode not in FLINK_MODES:
            return "mode", f"must be one of {', '.join(FLINK_MODES)}, got {self.mode!r}"
        if self.application_job not in MODULES:
            return "application_job", f"must be one of {', '.join(MODULES)}, got {self.application_job!r}"
        if self.max_taskmanagers < 1:
            return "max_taskmanagers", f"must be at least 1, got {self.max_taskmanagers}"
        if not 1 <= self.taskmanagers <= self.max_taskmanagers:
            most, count = self.max_taskmanagers, self.taskmanagers
            return "taskmanagers", f"must be from 1 to max_taskmanagers ({most}), got {count}"
        if self.high_availability not in HIGH_AVAILABILITY:
            return "high_availability", f"must be one of {', '.join(HIGH_AVAILABILITY)}, got {self.high_availability!r}"
        return _port_problem(
            rest_port=self.rest_port,
            rpc_port=self.rpc_port,
            jobmanager_metrics_port=self.jobmanager_metrics_port,
            taskmanager_metrics_port=self.taskmanager_metrics_port,
            last_taskmanager_metrics_port=self.taskmanager_port(self.max_taskmanagers),
            job_watch_port=self.job_watch_port,
        )


@dataclass(frozen=True)
class ZookeeperConfig:
    port: int = 2181
    ready_timeout_s: float = 60.0

    def validate(self) -> tuple[str, str] | None:
        return _port_problem(port=self.port)


@dataclass(frozen=True)
class MonitoringConfig:
    enabled: bool = False
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    webhook_port: int = 9095
    scrape_interval_s: float = 5.0
    evaluation_interval_s: float = 5.0
    group_wait_s: float = 5.0
    group_interval_s: float = 10.0
    repeat_interval_s: float = 4 * 3600.0
    retention: str = "2d"
    ready_timeout_s: float = 60.0

    def validate(self) -> tuple[str, str] | None:
        for name in ("scrape_interval_s", "evaluation_interval_s", "group_wait_s", "group_interval_s"):
            if getattr(self, name) <= 0:
                return name, f"must be positive, got {getattr(self, name)}"
        return _port_problem(
            prometheus_port=self.prometheus_port,
            alertmanager_port=self.alertmanager_port,
            webhook_port=self.webhook_port,
        )


@dataclass(frozen=True)
class ScalingConfig:
    """The local scaling loop (`rtai scaling run`, rtai/scaling/loop.py): the HPA rule on each of
    two metrics, the larger recommendation wins. The source's backlog (pendingRecords over its
    subtasks) per TaskManager, and the busiest task's busy fraction per TaskManager (busy time of
    all TaskManagers over their count); within `tolerance` of a target nothing changes; a
    scale-down only to the highest recommendation of the last scale_down_stabilization_s; between
    min_taskmanagers and [flink] max_taskmanagers; nothing decided in the job's first
    initialization_s after it (re)started."""

    backlog_per_taskmanager: float = 20_000.0
    busy_target: float = 0.7
    tolerance: float = 0.1
    period_s: float = 15.0
    scale_down_stabilization_s: float = 300.0
    initialization_s: float = 60.0
    min_taskmanagers: int = 1

    def validate(self) -> tuple[str, str] | None:
        for name in ("backlog_per_taskmanager", "period_s"):
            if getattr(self, name) <= 0:
                return name, f"must be positive, got {getattr(self, name)}"
        if not 0 < self.busy_target <= 1:
            return "busy_target", f"must be in (0, 1], got {self.busy_target}"
        if not 0 <= self.tolerance < 1:
            return "tolerance", f"must be in [0, 1), got {self.tolerance}"
        for name in ("scale_down_stabilization_s", "initialization_s"):
            if getattr(self, name) < 0:
                return name, f"must be >= 0, got {getattr(self, name)}"
        if self.min_taskmanagers < 1:
            return "min_taskmanagers", f"must be at least 1, got {self.min_taskmanagers}"
        return None


# Pulsar's backlog quota policies: what a site does when its backlog for the core is full.
BACKLOG_QUOTA_POLICIES = ("consumer_backlog_eviction", "producer_exception", "producer_request_hold")


@dataclass(frozen=True)
class EdgeConfig:
    """This stack as an edge site (`rtai edge link`): its Pulsar replicates `namespace` to the core
    site's Pulsar (geo-replication between two clusters, no shared configuration store), keeping
    at most backlog_quota_mb for the core while the link is down; past it, backlog_quota_policy:
    consumer_backlog_eviction drops the oldest unsent messages (the site keeps scoring; a metric
    and an alert say so), producer_exception refuses new ones (the site's job fails and restarts
    until the link is back), producer_request_hold holds producers (the site stops scoring).
    core_cluster empty: this stack is no edge site."""

    core_cluster: str = ""
    core_address: str = ""
    core_broker_port: int = 6650
    core_web_port: int = 8080
    namespace: str = "public/edge"
    backlog_quota_mb: float = 1024.0
    backlog_quota_policy: str = "consumer_backlog_eviction"

    def validate(self) -> tuple[str, str] | None:
        if self.core_cluster and not re.fullmatch(r"[A-Za-z0-9][\w.-]*", self.core_cluster):
            return "core_cluster", f"not a Pulsar cluster name: {self.core_cluster!r}"
        if self.core_cluster:
            try:
                ipaddress.IPv4Address(self.core_address)
            except ValueError:
                return "core_address", f"not an IPv4 address: {self.core_address!r}"
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", self.namespace):
            return "namespace", f"not a Pulsar namespace (tenant/namespace): {self.namespace!r}"
        if self.backlog_quota_mb <= 0:
            return "backlog_quota_mb", f"must be positive, got {self.backlog_quota_mb}"
        if self.backlog_quota_policy not in BACKLOG_QUOTA_POLICIES:
            return "backlog_quota_policy", (
                f"must be one of {', '.join(BACKLOG_QUOTA_POLICIES)}, got {self.backlog_quota_policy!r}"
            )
        return _port_problem(core_broker_port=self.core_broker_port, core_web_port=self.core_web_port)


PROFILES = ("open", "secure")
# Overrides [security] profile, for `rtai stack up --secure` and whatever it runs.
PROFILE_VARIABLE = "RTAI_SECURITY_PROFILE"


@dataclass(frozen=True)
class SecurityConfig:
    """open: every service on loopback, no authentication, no TLS (one machine, one user).
    secure: TLS and credentials on every service, made by scripts/make-credentials.sh under
    .run/secrets (see docs/security.md)."""

    profile: str = "open"

    def validate(self) -> tuple[str, str] | None:
        if self.profile not in PROFILES:
            return "profile", f"must be one of {', '.join(PROFILES)}, got {self.profile!r}"
        return None


@dataclass(frozen=True)
class StackConfig:
    pulsar: PulsarConfig = field(default_factory=PulsarConfig)
    triton: TritonConfig = field(default_factory=TritonConfig)
    feast: FeastConfig = field(default_factory=FeastConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    flink: FlinkConfig = field(default_factory=FlinkConfig)
    zookeeper: ZookeeperConfig = field(default_factory=ZookeeperConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    edge: EdgeConfig = field(default_factory=EdgeConfig)
    scaling: ScalingConfig = field(default_factory=ScalingConfig)

    @property
    def secure(self) -> bool:
        return self.security.profile == "secure"

    @property
    def pulsar_service_url(self) -> str:
        if self.secure:
            return f"pulsar+ssl://{self.pulsar.address}:{self.pulsar.broker_tls_port}"
        return f"pulsar://{self.pulsar.address}:{self.pulsar.broker_port}"

    @property
    def pulsar_admin_url(self) -> str:
        if self.secure:
            return f"https://{self.pulsar.address}:{self.pulsar.web_tls_port}"
        return f"http://{self.pulsar.address}:{self.pulsar.web_port}"

    @property
    def feast_url(self) -> str:
        return f"{'https' if self.secure else 'http'}://127.0.0.1:{self.feast.port}"

    @property
    def redis_connection_string(self) -> str:
        return f"127.0.0.1:{self.redis.port}"

    @property
    def triton_grpc_url(self) -> str:
        return f"127.0.0.1:{self.triton.grpc_port}"

    @property
    def flink_rest_url(self) -> str:
        return f"{'https' if self.secure else 'http'}://127.0.0.1:{self.flink.rest_port}"

    @property
    def triton_http_url(self) -> str:
        return f"http://127.0.0.1:{self.triton.http_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.monitoring.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.monitoring.alertmanager_port}"

    @property
    def alert_webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.monitoring.webhook_port}"


def stack_config_path() -> Path:
    return Path(os.environ.get(STACK_CONFIG_VARIABLE, DEFAULT_STACK_CONFIG))


def load(path: Path | None = None) -> StackConfig:
    config = load_toml(path or stack_config_path(), StackConfig)
    profile = os.environ.get(PROFILE_VARIABLE)
    if profile:
        if profile not in PROFILES:
            raise ConfigError(f"${PROFILE_VARIABLE}: must be one of {', '.join(PROFILES)}, got {profile!r}")
        config = replace(config, security=SecurityConfig(profile))
    return config
