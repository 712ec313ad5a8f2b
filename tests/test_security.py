"""The secure profile on real servers: an isolated stack (Pulsar, Feast, Triton, Redis) started
with `[security] profile = "secure"`, its credentials made by scripts/make-credentials.sh. For
each service a client without credentials, or with another role's, is refused with the
service's own error, and one with the right credentials works; the inference job runs end to
end on it exactly-once as its own Pulsar role; no secret is in any log written meanwhile."""

from __future__ import annotations

import json
import ssl
import stat
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import httpx
import numpy as np
import pulsar
import pytest
import redis
import tomli_w
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from flink_jobs.config.topics import full_name
from rtai import pulsar_client
from rtai.jobs import launcher
from rtai.security.credentials import Credentials
from tests.flink_rest import JobRest, free_port
from tests.onnx_models import write_columns_model
from tests.stack_helpers import (
    MODEL_COLUMNS,
    cli,
    copy_of_feature_repo,
    isolated_env,
    isolated_stack,
    isolated_stack_toml,
    receive_all,
)

GRPC_ADMIN_HEADER = "triton-grpc-protocol-admin-key"  # Triton's gRPC name of the key `admin-key`
pytestmark = pytest.mark.process_stack  # the profile's set-up is the process stack's (images: not yet)

SERVICES = ["redis", "pulsar", "feast", "triton", "flink-jobmanager", "flink-taskmanager"]
ROLES = ("generator", "feature-job", "inference-job", "reader")
# A refused Pulsar client retries until its operation timeout: short, so a refusal is quick.
REFUSED_WITHIN_S = 5


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("secure")
    repo = copy_of_feature_repo(tmp)
    toml = isolated_stack_toml(
        {
            "feast": {"feature_repo": str(repo), "online_store": "redis"},
            "triton": {"model_repository": str(tmp / "tr")},
            "flink": {"high_availability": "none"},
            "security": {"profile": "secure"},
        }
    )
    env = isolated_env(tmp, toml)
    model = tmp / "model.onnx"
    write_columns_model(model, MODEL_COLUMNS, seed=5)
    registered = cli("model", "register", "--model", str(model), "--name", "fraud_mlp", env=env)
    assert registered.returncode == 0, registered.stderr
    with isolated_stack(tmp, SERVICES, toml) as stack:
        yield stack, Credentials(stack.run_dir / "secrets"), tmp


def pulsar_client_as(stack, found: Credentials, role: str | None, *, trust: bool = True) -> pulsar.Client:
    options = {"operation_timeout_seconds": REFUSED_WITHIN_S, "logger": pulsar.ConsoleLogger(pulsar.LoggerLevel.Error)}
    if role is not None:
        options["authentication"] = pulsar.AuthenticationToken(found.pulsar_token(role).read_text().strip())
    if trust:
        options["tls_trust_certs_file_path"] = str(found.ca_file)
    return pulsar.Client(stack.config.pulsar_service_url, **options)


def tool_client(stack, found: Credentials, role: str) -> pulsar.Client:
    """The project's own client (rtai.pulsar_client) as a role, as the tools use it."""
    return pulsar_client.connect(
        stack.config.pulsar_service_url, token_file=found.pulsar_token(role), tls_trust_certs_file=str(found.ca_file)
    )


def pipeline_topics(prefix: str) -> dict[str, str]:
    run = uuid.uuid4().hex[:8]
    return {k: full_name(f"{prefix}-{k}-{run}") for k in ("transactions", "dead_letter", "predictions", "alerts")}


def write_pipeline(folder: Path, stack, found: Credentials, topics: dict[str, str], **inference) -> Path:
    """A pipeline on the secure stack: TLS everywhere, the jobs' tokens and the CA by file."""
    config = stack.config
    ca = str(found.ca_file)
    table = {
        "pulsar": {
            "service_url": config.pulsar_service_url,
            "admin_url": config.pulsar_admin_url,
            "tls_trust_certs_file": ca,
        },
        "topics": topics,
        "inference_job": {
            "subscription": "secure-test",
            "checkpoint_interval_ms": 1000,
            "max_batch_size": 16,
            "max_wait_ms": 50,
            "pulsar_token": {"file": str(found.pulsar_token("inference-job"))},
            "feast": {"url": config.feast_url, "ca_file": ca},
            "triton": {"url": config.triton_grpc_url, "tls": True, "ca_file": ca},
            **inference,
        },
        "feature_job": {
            "pulsar_token": {"file": str(found.pulsar_token("feature-job"))},
            "feast": {"url": config.feast_url, "ca_file": ca},
        },
    }
    path = folder / "pipeline.toml"
    path.write_text(tomli_w.dumps(table))
    return path


def grant(stack, pipeline: Path) -> None:
    granted = cli("security", "grant", "--pipeline", str(pipeline), env=stack.env)
    assert granted.returncode == 0, granted.stderr


def test_credentials_are_owner_only_and_made_once(secure):
    stack, found, _ = secure
    files = [f for f in found.root.rglob("*") if f.is_file()]
    assert {found.ca_file, found.server_key, found.admin_token, found.triton_admin_key, found.redis_acl} <= set(files)
    assert all(found.pulsar_token(role) in files for role in ROLES)
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files), {f: oct(f.stat().st_mode) for f in files}
    assert stat.S_IMODE(found.root.stat().st_mode) == 0o700
    before = {f: f.read_bytes() for f in files}
    again = cli("security", "credentials", env=stack.env)
    assert again.returncode == 0, again.stderr
    assert {f: f.read_bytes() for f in files} == before  # a second run changes nothing


def test_pulsar_refuses_clients_without_a_token_or_tls_and_roles_get_only_their_topics(secure, tmp_path):
    stack, found, _ = secure
    topics = pipeline_topics("sec")
    grant(stack, write_pipeline(tmp_path, stack, found, topics))
    config = stack.config

    # The admin API: no token, 401; a role's token on an admin call, 401 (Pulsar's answer for a
    # role that is not a superuser or tenant admin); the stack's superuser, 200.
    context = ssl.create_default_context(cafile=str(found.ca_file))
    url = f"{config.pulsar_admin_url}/admin/v2/namespaces/public/default/permissions"

    def admin_status(token_file: Path | None) -> int:
        headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"} if token_file else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), context=context) as answer:
                return answer.status
        except urllib.error.HTTPError as err:
            return err.code

    assert admin_status(None) == 401
    assert admin_status(found.pulsar_token("reader")) in (401, 403)
    assert admin_status(found.admin_token) == 200
    # The plain ports are closed in this profile.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{config.pulsar.web_port}/admin/v2/clusters", timeout=2)

    def produce(role: str | None, topic: str, *, trust: bool = True) -> None:
        client = pulsar_client_as(stack, found, role, trust=trust)
        try:
            client.create_producer(topic).send(b"{}")
        finally:
            client.close()

    def consume(role: str, topic: str) -> None:
        client = pulsar_client_as(stack, found, role)
        try:
            client.subscribe(topic, f"sub-{role}")
        finally:
            client.close()

    produce("generator", topics["transactions"])
    # The generator's CLI publishes as that role by itself in the secure profile.
    published = cli("generate", "stream", "--topic", topics["transactions"], "--count", "5", env=stack.env)
    assert published.returncode == 0, published.stderr
    assert "published 5 events" in published.stdout
    produce("inference-job", topics["predictions"])
    consume("reader", topics["predictions"])
    consume("inference-job", topics["transactions"])
    for role, topic in (
        ("inference-job", topics["transactions"]),  # a job cannot write its own input
        ("feature-job", topics["predictions"]),  # nor the other job's outputs
        ("reader", topics["alerts"]),  # a reader cannot produce at all
        ("generator", "persistent://public/default/not-granted"),
    ):
        with pytest.raises(pulsar.AuthorizationError):
            produce(role, topic)
    with pytest.raises(pulsar.AuthorizationError):
        consume("generator", topics["predictions"])
    # No token: the broker refuses the connection's authentication; the client gives up.
    with pytest.raises((pulsar.AuthenticationError, pulsar.Timeout, pulsar.ConnectError)):
        produce(None, topics["transactions"])
    # Without the CA the client does not trust the broker's certificate.
    with pytest.raises((pulsar.ConnectError, pulsar.Timeout)):
        produce("generator", topics["transactions"], trust=False)


def test_triton_needs_tls_on_grpc_and_the_admin_key_for_model_control_and_shared_memory(secure):
    stack, found, _ = secure
    config = stack.config
    key = found.triton_admin_key.read_text().strip()
    plain = grpcclient.InferenceServerClient(config.triton_grpc_url)
    with pytest.raises(InferenceServerException):
        plain.is_server_live(client_timeout=5)
    plain.close()
    client = grpcclient.InferenceServerClient(config.triton_grpc_url, ssl=True, root_certificates=str(found.ca_file))
    try:
        assert client.is_model_ready("fraud_mlp")  # inference and metadata need no key
        for call in (
            lambda headers: client.load_model("fraud_mlp", headers=headers),
            lambda headers: client.get_model_repository_index(headers=headers),
            lambda headers: client.get_system_shared_memory_status(headers=headers),
        ):
            with pytest.raises(InferenceServerException, match="restricted"):
                call(None)
            with pytest.raises(InferenceServerException, match="restricted"):
                call({GRPC_ADMIN_HEADER: "not-the-key"})
            call({GRPC_ADMIN_HEADER: key})
    finally:
        client.close()
    # HTTP (loopback only: Triton's HTTP endpoint has no TLS) asks for the same key.
    http = config.triton_http_url
    for method, path in (
        ("POST", "/v2/repository/models/fraud_mlp/unload"),
        ("POST", "/v2/repository/index"),
        ("GET", "/v2/systemsharedmemory/status"),
    ):
        refused = httpx.request(method, f"{http}{path}", timeout=10)
        assert refused.status_code == 403 and "restricted" in refused.text, (path, refused.text)
    assert httpx.post(f"{http}/v2/repository/index", headers={"admin-key": key}, timeout=10).status_code == 200
    assert httpx.get(f"{http}/v2/health/ready", timeout=5).status_code == 200


def test_feast_serves_only_over_tls_with_a_certificate_of_the_local_ca(secure):
    stack, found, _ = secure
    config = stack.config
    with pytest.raises(httpx.HTTPError):  # plain HTTP to the TLS port: the server drops it
        httpx.get(f"http://127.0.0.1:{config.feast.port}/health", timeout=5)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{config.feast_url}/health", timeout=5)  # the system's CAs do not know it
    verify = ssl.create_default_context(cafile=str(found.ca_file))
    assert httpx.get(f"{config.feast_url}/health", timeout=5, verify=verify).status_code == 200


def test_redis_has_no_default_user_and_each_user_only_its_commands(secure):
    stack, found, _ = secure
    port = stack.config.redis.port
    anonymous = redis.Redis(port=port)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port, username="feast", password="wrong").ping()
    feast = redis.Redis(port=port, username="feast", password=found.redis_password("feast").read_text().strip())
    feast.set("security-test", "1")
    assert feast.get("security-test") == b"1"
    with pytest.raises(redis.exceptions.NoPermissionError):
        feast.flushall()
    with pytest.raises(redis.exceptions.NoPermissionError):
        feast.config_set("dir", "/tmp")
    exporter = redis.Redis(
        port=port, username="exporter", password=found.redis_password("exporter").read_text().strip()
    )
    assert exporter.info("server")["tcp_port"] == port
    with pytest.raises(redis.exceptions.NoPermissionError):
        exporter.get("security-test")


def test_the_inference_job_runs_exactly_once_end_to_end_as_its_own_role(secure, tmp_path):
    stack, found, _ = secure
    topics = pipeline_topics("sec-e2e")
    pipeline = write_pipeline(tmp_path, stack, found, topics, delivery="exactly-once")
    grant(stack, pipeline)
    events = [
        {
            "event_id": f"sec-{i}",
            "event_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "card_id": 1 + i % 5,
            "customer_id": 1,
            "merchant_id": 7,
            "merchant_category": "grocery",
            "merchant_country": "DE",
            "card_country": "DE",
            "amount": float(10 + i),
            "currency": "EUR",
            "channel": "pos",
        }
        for i in range(40)
    ]
    reader = pulsar_client.connect(
        stack.config.pulsar_service_url,
        token_file=found.pulsar_token("reader"),
        tls_trust_certs_file=str(found.ca_file),
    )
    consumers = {k: reader.subscribe(topics[k], "check") for k in ("predictions", "dead_letter")}
    rest = JobRest(free_port())
    log = tmp_path / "job.log"
    job = launcher.start_local("flink_jobs.jobs.fraud_scoring", ["--pipeline", str(pipeline), *rest.args()], log)
    try:
        generator = tool_client(stack, found, "generator")
        producer = generator.create_producer(topics["transactions"])
        for e in events:
            producer.send(json.dumps(e).encode())
        producer.send(b"{not json")
        generator.close()
        predictions = receive_all(consumers["predictions"], len(events), 240)
        dead = receive_all(consumers["dead_letter"], 1, 30)
    finally:
        launcher.stop_local(job)
        reader.close()
    assert len(predictions) == len(events), log.read_text()[-3000:]
    assert sorted(p["event_id"] for p in predictions) == sorted(e["event_id"] for e in events)  # each once
    assert all(np.isfinite(p["score"]) for p in predictions)
    assert [d["reason"].split(":")[0] for d in dead] == ["malformed JSON"]


def test_flink_speaks_tls_inside_and_out_and_its_rest_api_asks_for_a_client_certificate(secure, tmp_path):
    stack, found, _ = secure
    config = stack.config
    url = config.flink_rest_url
    # Plain HTTP gets nothing but a redirect to https.
    plain = httpx.get(url.replace("https://", "http://") + "/config", timeout=5)
    assert plain.status_code == 301 and plain.headers["location"].startswith("https://") and not plain.content
    trust = ssl.create_default_context(cafile=str(found.ca_file))
    with pytest.raises((httpx.HTTPError, ssl.SSLError)):  # TLS, but no client certificate: refused
        httpx.get(f"{url}/config", timeout=5, verify=trust).raise_for_status()
    mutual = ssl.create_default_context(cafile=str(found.ca_file))
    mutual.load_cert_chain(str(found.client_cert), str(found.client_key))
    overview = httpx.get(f"{url}/overview", timeout=5, verify=mutual).raise_for_status().json()
    assert overview["taskmanagers"] == 1  # registered with the JobManager over the internal TLS
    # Web submission is off: no jar upload endpoint.
    assert httpx.post(f"{url}/jars/upload", timeout=5, verify=mutual).status_code == 404
    settings = {e["key"]: e["value"] for e in httpx.get(f"{url}/jobmanager/config", timeout=5, verify=mutual).json()}
    assert settings["security.ssl.internal.enabled"] == "true"
    assert settings["security.ssl.rest.keystore-password"] == "******"  # Flink masks it

    # The CLI of the stack's config submits over mutual TLS; the job runs as its Pulsar role.
    topics = pipeline_topics("sec-cluster")
    pipeline = write_pipeline(tmp_path, stack, found, topics)
    grant(stack, pipeline)
    submitted = cli("job", "submit", "inference", "--pipeline", str(pipeline), env=stack.env)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.split("job ")[1].split()[0]
    try:
        deadline, state = time.monotonic() + 120, ""
        while time.monotonic() < deadline and state != "RUNNING":
            state = httpx.get(f"{url}/jobs/{job_id}", timeout=5, verify=mutual).json()["state"]
            time.sleep(1)
        assert state == "RUNNING"
        producer_client = tool_client(stack, found, "generator")
        reader = tool_client(stack, found, "reader")
        consumer = reader.subscribe(topics["dead_letter"], "check")
        producer_client.create_producer(topics["transactions"]).send(b"{not json")
        dead = receive_all(consumer, 1, 120)
        producer_client.close()
        reader.close()
        assert [d["reason"].split(":")[0] for d in dead] == ["malformed JSON"]
    finally:
        cancelled = cli("job", "cancel", job_id, env=stack.env)
        assert cancelled.returncode == 0, cancelled.stderr


def test_no_secret_is_in_any_log_of_the_run(secure):
    """Last in the module: every log the secure stack, its CLI calls and the job wrote."""
    _, found, tmp = secure
    secrets = found.secret_values()
    assert len(secrets) >= len(ROLES) + 4
    logs = [f for f in tmp.rglob("*") if f.is_file() and (f.suffix in (".log", ".out", ".err") or "logs" in f.parts)]
    logs += [f for f in Path(tmp.parent).rglob("job.log")]
    assert any(f.name == "triton.log" for f in logs)
    leaks = {
        str(f): [s[:6] + "..." for s in secrets if s in f.read_text(errors="replace")]
        for f in logs
        if any(s in f.read_text(errors="replace") for s in secrets)
    }
    assert not leaks
    # The key Triton takes on its command line is redacted where the stack logs that line.
    triton_log = next(f for f in logs if f.name == "triton.log").read_text()
    assert "admin-key=[redacted]" in triton_log
