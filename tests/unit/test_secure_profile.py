"""The secure profile's pieces that need no server: redaction, secrets named by config, a
config that extends another, the Pulsar grants a pipeline gets, the shipped secure pipeline."""

from __future__ import annotations

import pytest

from flink_jobs.clients.pulsar_io import PulsarEndpoint
from flink_jobs.config import pipeline_config
from flink_jobs.config.pipeline_config import PulsarSection
from flink_jobs.config.secret_source import SecretSource
from flink_jobs.errors import UserFacingError
from flink_jobs.redaction import REDACTED, redact
from rtai import paths
from rtai.security import pulsar_grants

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJyZWFkZXIifQ.n8mB2mM3xw6yQ7ZqJmVxHk3Xb5Qp0RwsQ2d8f1kLZc4"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"token: {TOKEN}", "token: "),
        ("Authorization: Bearer abcdefghijklmnop", "Authorization: Bearer "),
        ("redis://feast:hunter2hunter2@127.0.0.1:6379", "redis://"),
        ("127.0.0.1:6379,username=feast,password=0123456789abcdef", "username=feast,password="),
        ("--grpc-restricted-protocol=model-repository,shared-memory:admin-key=ffeeddccbbaa9988", "admin-key="),
        ('{"apiKey": "sk-abcdef0123456789"}', '{"apiKey": "'),
        ("keystore-password: 0a1b2c3d4e5f6a7b", "keystore-password: "),
    ],
)
def test_what_looks_like_a_secret_is_redacted_and_its_name_kept(text, kept):
    redacted = redact(text)
    assert f"{kept}{REDACTED}" in redacted
    secrets = ("hunter2", "0123456789abcdef", "ffeeddcc", "sk-abc", "0a1b2c", "n8mB2")
    assert not any(part in redacted for part in secrets)


def test_a_known_value_is_redacted_anywhere_and_plain_words_and_paths_are_not():
    assert redact("the key is s3cr3t-value-42 here", ["s3cr3t-value-42"]) == f"the key is {REDACTED} here"
    for plain in ("tokens and passwords are described here", "authParams=file:///run/secrets/reader.jwt"):
        assert redact(plain) == plain


def test_a_secret_is_read_from_its_file_or_variable_and_a_missing_one_is_named(tmp_path, monkeypatch):
    token = tmp_path / "reader.jwt"
    token.write_text(TOKEN + "\n")
    assert SecretSource(file=str(token)).read("x.pulsar_token") == TOKEN
    monkeypatch.setenv("RTAI_TEST_TOKEN", TOKEN)
    assert SecretSource(env="RTAI_TEST_TOKEN").read("x.pulsar_token") == TOKEN
    with pytest.raises(UserFacingError, match=r"inference_job\.pulsar_token: environment variable RTAI_NOPE is not"):
        SecretSource(env="RTAI_NOPE").read("inference_job.pulsar_token")
    with pytest.raises(UserFacingError, match=r"feature_job\.pulsar_token: cannot read"):
        SecretSource(file=str(tmp_path / "nope.jwt")).read("feature_job.pulsar_token")


def test_the_connector_gets_the_token_file_by_path_never_its_value(tmp_path):
    token, ca = tmp_path / "job.jwt", tmp_path / "ca.crt"
    token.write_text(TOKEN)
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    section = PulsarSection("pulsar+ssl://h:6651", "https://h:8443", str(ca))
    endpoint = PulsarEndpoint.of(section, SecretSource(file=str(token)), "inference_job")
    assert endpoint.token_auth_params == token.resolve().as_uri()
    assert TOKEN not in repr(endpoint)
    assert endpoint.client_settings() == {"pulsar.client.tlsTrustCertsFilePath": str(ca.resolve())}
    assert PulsarEndpoint.of(PulsarSection(), SecretSource(), "inference_job").token_auth_params == ""
    with pytest.raises(UserFacingError, match=r"pulsar\.tls_trust_certs_file: no file"):
        PulsarEndpoint.of(PulsarSection(tls_trust_certs_file=str(tmp_path / "x.crt")), SecretSource(), "j")


def test_the_secure_pipeline_extends_the_fraud_pipeline_table_by_table():
    base = pipeline_config.load(paths.DEFAULT_PIPELINE)
    secure = pipeline_config.load(paths.SECURE_PIPELINE)
    assert secure.pulsar.service_url.startswith("pulsar+ssl://")
    assert secure.inference_job.triton.tls and secure.inference_job.feast.url.startswith("https://")
    assert secure.inference_job.pulsar_token.file.endswith("inference-job.jwt")
    # Everything it does not set is the base's, keys of a table it changes included.
    assert secure.rules == base.rules and secure.model.serving == base.model.serving
    assert secure.model.canary.share == base.model.canary.share  # beside the watch's own token
    assert secure.model.canary.pulsar_token.file.endswith("canary-watch.jwt")
    assert secure.scoring_api.deadline_ms == base.scoring_api.deadline_ms and secure.scoring_api.tls_cert_file
    assert secure.inference_job.feast.timeout_s == base.inference_job.feast.timeout_s
    assert secure.inference_job.max_batch_size == base.inference_job.max_batch_size


def test_each_role_gets_exactly_its_actions_on_the_pipelines_topics():
    config = pipeline_config.load(paths.DEFAULT_PIPELINE)
    given = {(g.role, g.topic.rsplit("/", 1)[1]): g.actions for g in pulsar_grants.grants(config)}
    assert given[("inference-job", "transactions")] == ("consume",)
    assert given[("inference-job", "fraud-predictions")] == ("produce",)
    assert given[("generator", "transactions")] == ("produce",)
    assert given[("inference-job", "transaction_coordinator_assign")] == ("consume",)
    assert not [key for key, actions in given.items() if key[0] == "reader" and "produce" in actions]
    assert ("feature-job", "fraud-predictions") not in given
    assert ("generator", "fraud-predictions") not in given
