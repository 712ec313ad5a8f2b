"""The stack config file: defaults, and errors that name the bad field."""

from __future__ import annotations

import pytest

from flink_jobs.config.typed_config import ConfigError
from flink_jobs.errors import UserFacingError
from rtai import paths
from rtai.stack import config as stack_config
from rtai.stack import flink_cluster, registry


def test_shipped_config_loads():
    config = stack_config.load(stack_config.DEFAULT_STACK_CONFIG)
    assert config.pulsar_service_url == "pulsar://127.0.0.1:6650"
    assert config.triton.grpc_port == 8001
    assert config.feast.port == 6566


def test_the_edge_profile_starts_pulsar_and_feast_only_and_names_its_core():
    config = stack_config.load(paths.INFRA_DIR / "edge" / "stack.toml")
    assert [s.name for s in registry.selected(config)] == ["pulsar", "feast"]
    assert (config.pulsar.cluster, config.edge.core_cluster, config.feast.workers) == ("edge", "core", 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[pulsar]\nbroker_prot = 1", "pulsar.broker_prot: unknown key"),
        ("[triton]\ngrpc_port = 'x'", "triton.grpc_port: expected int, got 'x'"),
        ("[feast]\nworkers = 0", "feast.workers: must be at least 1, got 0"),
        ("[flink]\nrest_port = 70000", "flink.rest_port: not a TCP port: 70000"),
        ("[redis\n", "not valid TOML"),
        ("[security]\nprofile = 'tight'", "security.profile: must be one of open, secure, got 'tight'"),
        ("[pulsar]\nweb_tls_port = 0", "pulsar.web_tls_port: not a TCP port: 0"),
        ("[pulsar]\naddress = 'edge.local'", "pulsar.address: not an IPv4 address: 'edge.local'"),
        ("[pulsar]\ncluster = 'a b'", "pulsar.cluster: not a Pulsar cluster name"),
        ("[edge]\ncore_cluster = 'core'", "edge.core_address: not an IPv4 address: ''"),
        ("[edge]\nnamespace = 'edge'", "edge.namespace: not a Pulsar namespace (tenant/namespace)"),
        ("[edge]\nbacklog_quota_mb = 0", "edge.backlog_quota_mb: must be positive, got 0"),
        ("[edge]\nbacklog_quota_policy = 'drop'", "edge.backlog_quota_policy: must be one of consumer_backlog"),
        ("[flink]\nmode = 'adaptive'", "flink.mode: must be one of session, reactive, got 'adaptive'"),
        ("[flink]\napplication_job = 'scoring'", "flink.application_job: must be one of features, inference, quality"),
        ("[flink]\ntaskmanagers = 5", "flink.taskmanagers: must be from 1 to max_taskmanagers (4), got 5"),
        ("[flink]\nmax_taskmanagers = 700", "flink.last_taskmanager_metrics_port: not a TCP port: 79150"),
    ],
)
def test_errors_name_the_bad_field(tmp_path, text, message):
    path = tmp_path / "stack.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        stack_config.load(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_the_secure_profile_turns_every_url_to_tls_and_the_variable_overrides_the_file(tmp_path, monkeypatch):
    path = tmp_path / "stack.toml"
    path.write_text("[security]\nprofile = 'secure'\n[pulsar]\nbroker_tls_port = 7651\n")
    config = stack_config.load(path)
    assert config.secure
    assert config.pulsar_service_url == "pulsar+ssl://127.0.0.1:7651"
    assert config.pulsar_admin_url == "https://127.0.0.1:8443"
    assert config.feast_url.startswith("https://") and config.flink_rest_url.startswith("https://")
    monkeypatch.setenv(stack_config.PROFILE_VARIABLE, "open")
    assert stack_config.load(path).pulsar_service_url == "pulsar://127.0.0.1:6650"
    monkeypatch.setenv(stack_config.PROFILE_VARIABLE, "closed")
    with pytest.raises(ConfigError, match="RTAI_SECURITY_PROFILE: must be one of open, secure"):
        stack_config.load(path)


def test_taskmanager_n_exports_metrics_a_step_up_and_up_starts_the_last_scaled_count(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RUN_DIR", tmp_path / "run")
    path = tmp_path / "stack.toml"
    path.write_text("[flink]\nenabled = true\ntaskmanagers = 2\n")
    config = stack_config.load(path)
    assert [config.flink.taskmanager_port(n) for n in (1, 2, 4)] == [9250, 9350, 9550]
    names = [s.name for s in registry.selected(config) if s.name.startswith("flink-taskmanager")]
    assert names == ["flink-taskmanager", "flink-taskmanager-2"]
    known = [s.name for s in registry.all_services(config) if s.name.startswith("flink-taskmanager")]
    assert known == ["flink-taskmanager", *(f"flink-taskmanager-{n}" for n in (2, 3, 4))]
    flink_cluster.taskmanagers_file().parent.mkdir(parents=True)
    flink_cluster.taskmanagers_file().write_text("3\n")  # `rtai stack scale taskmanagers 3`
    assert len([s for s in registry.selected(config) if s.name.startswith("flink-taskmanager")]) == 3
    flink_cluster.taskmanagers_file().write_text("three\n")
    with pytest.raises(UserFacingError, match="not a TaskManager count"):
        registry.selected(config)
