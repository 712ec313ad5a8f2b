"""Apache Pulsar standalone (4.0 LTS, the binary distribution fetched by `mvn`), transactions on.

Its data survives an unclean stop: killed with SIGKILL (idle, under a producer, during its own
start), it restarts on the same data in 6-10 s here with every acknowledged message there
(tests/test_pulsar.py). The journal is fsynced before a message is acknowledged (standalone.conf
journalSyncData, its measured cost there): a machine crash loses nothing acknowledged either."""

from __future__ import annotations

import re

from flink_jobs.config.topics import DEFAULT_NAMESPACE, DEFAULT_TENANT
from rtai import paths
from rtai.bootstrap import java_artifacts, prereqs
from rtai.errors import PrerequisiteError
from rtai.security.credentials import Credentials, superuser
from rtai.stack import secure_profile
from rtai.stack.config import StackConfig
from rtai.stack.probes import http_ok
from rtai.stack.service import Scrape, Service, data_dir

CONF_TEMPLATE = paths.INFRA_DIR / "pulsar" / "standalone.conf"
LOG4J_CONFIG = paths.INFRA_DIR / "pulsar" / "log4j2.xml"
# The JVM options of the distribution's own bin/pulsar for Java 17.
JVM_OPTIONS = [
    "-Djava.net.preferIPv4Stack=true",
    "--add-opens",
    "java.base/java.io=ALL-UNNAMED",
    "--add-opens",
    "java.base/java.util.zip=ALL-UNNAMED",
    "--add-opens",
    "java.management/sun.management=ALL-UNNAMED",
    "--add-opens",
    "jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens",
    "java.base/java.nio=ALL-UNNAMED",
    "--add-opens",
    "java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-opens",
    "java.base/jdk.internal.platform=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dorg.apache.pulsar.shade.io.netty.tryReflectionSetAccessible=true",
    "-Dpulsar.allocator.exit_on_oom=true",
    "-Dio.netty.recycler.maxCapacityPerThread=4096",
    "-Dbookkeeper.metadata.bookie.drivers=org.apache.pulsar.metadata.bookkeeper.PulsarMetadataBookieDriver",
    "-Dbookkeeper.metadata.client.drivers=org.apache.pulsar.metadata.bookkeeper.PulsarMetadataClientDriver",
    "-Dlog4j.shutdownHookEnabled=false",
    "-Dlog4j2.is.webapp=false",
]


def secure_settings(config: StackConfig, found: Credentials) -> dict[str, object]:
    """TLS only (the plain ports closed), token authentication and authorization. The broker's
    own client (namespace set-up, transactions' system topics) is the superuser."""
    return {
        "brokerServicePort": "",
        "webServicePort": "",
        "brokerServicePortTls": config.pulsar.broker_tls_port,
        "webServicePortTls": config.pulsar.web_tls_port,
        "tlsCertificateFilePath": found.server_cert,
        "tlsKeyFilePath": found.server_key,
        "tlsTrustCertsFilePath": found.ca_file,
        "authenticationEnabled": "true",
        "authenticationProviders": "org.apache.pulsar.broker.authentication.AuthenticationProviderToken",
        "tokenSecretKey": f"file://{found.pulsar_secret_key}",
        "authorizationEnabled": "true",
        "superUserRoles": superuser(),
        "brokerClientTlsEnabled": "true",
        "brokerClientTrustCertsFilePath": found.ca_file,
        "brokerClientAuthenticationPlugin": "org.apache.pulsar.client.impl.auth.AuthenticationToken",
        "brokerClientAuthenticationParameters": f"file://{found.admin_token}",
    }


def render_config(config: StackConfig, found: Credentials | None = None) -> str:
    text = CONF_TEMPLATE.read_text()
    settings: dict[str, object] = {
        "clusterName": config.pulsar.cluster,
        "bindAddress": config.pulsar.address,
        "advertisedAddress": config.pulsar.address,
        "brokerServicePort": config.pulsar.broker_port,
        "webServicePort": config.pulsar.web_port,
    }
    if found is not None:
        settings |= secure_settings(config, found)
    for key, value in settings.items():
        line = f"{key}={value}"
        text, replaced = re.subn(rf"^{key}=.*$", line, text, flags=re.MULTILINE)
        if not replaced:
            text += f"{line}\n"
    return text


def prepare(config: StackConfig) -> list[str]:
    prereqs.check_java()
    home = java_artifacts.pulsar_home()
    if not (home / "lib").is_dir():
        raise PrerequisiteError(f"Pulsar not found at {home}: run the set-up first (`make setup`)")
    (data_dir("pulsar") / "standalone.conf").write_text(render_config(config, secure_profile.credentials(config)))
    return []


def command(config: StackConfig) -> list[str]:
    pulsar = config.pulsar
    data = data_dir("pulsar")
    return [
        prereqs.java_command(),
        "-Xms256m",
        f"-Xmx{pulsar.heap}",
        f"-XX:MaxDirectMemorySize={pulsar.heap}",
        "-cp",
        f"{java_artifacts.pulsar_home() / 'lib'}/*",
        *JVM_OPTIONS,
        # The JVM ignores TMPDIR: RocksDB's and netty's native libraries go to the service's tmp too.
        f"-Djava.io.tmpdir={data / 'tmp'}",
        f"-Dlog4j.configurationFile={LOG4J_CONFIG}",
        "org.apache.pulsar.PulsarStandaloneStarter",
        "--config",
        str(data / "standalone.conf"),
        "--no-functions-worker",
        "--no-stream-storage",
        "--metadata-dir",
        str(data / "metadata"),
        "--bookkeeper-dir",
        str(data / "bookkeeper"),
        "--bookkeeper-port",
        str(pulsar.bookie_port),
        "--advertised-address",
        pulsar.address,
    ]


def ready(config: StackConfig) -> bool:
    """The broker healthy and the default namespace there: standalone creates public/default
    after its broker answers health checks, so on a first start a producer on a short topic
    name could fail between the two."""
    admin, tls = config.pulsar_admin_url, secure_profile.pulsar_admin_tls(config)
    return http_ok(f"{admin}/admin/v2/brokers/health", tls) and http_ok(
        f"{admin}/admin/v2/namespaces/{DEFAULT_TENANT}/{DEFAULT_NAMESPACE}", tls
    )


def service(config: StackConfig) -> Service:
    pulsar = config.pulsar
    return Service(
        name="pulsar",
        ports=(
            {"broker-tls": pulsar.broker_tls_port, "https": pulsar.web_tls_port, "bookie": pulsar.bookie_port}
            if config.secure
            else {"broker": pulsar.broker_port, "http": pulsar.web_port, "bookie": pulsar.bookie_port}
        ),
        command=command(config),
        cwd=data_dir("pulsar"),
        ready=lambda: ready(config),
        metrics=None if config.secure else Scrape("http", job="pulsar"),
        ready_timeout_s=pulsar.ready_timeout_s,
        stop_timeout_s=30,
        prepare=lambda: prepare(config),
    )
