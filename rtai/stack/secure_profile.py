"""What the secure profile adds to the stack's services: the credentials they are started with,
and how the stack's own probes and tools present themselves to them."""

from __future__ import annotations

import functools
import threading

from rtai.security.credentials import Credentials, read_secret
from rtai.security.tls import Tls
from rtai.stack.config import StackConfig


def credentials(config: StackConfig) -> Credentials | None:
    """The secure profile's credentials, made where missing; None in the open profile."""
    return _ensured() if config.secure else None


_ENSURING = threading.Lock()  # `rtai stack up` starts services from several threads


def _ensured() -> Credentials:
    with _ENSURING:
        return _ensured_once()


@functools.cache
def _ensured_once() -> Credentials:
    # Once per process: every service's start and every tool asks, and the check runs a script.
    return Credentials.of_stack().ensure()


def stored_credentials() -> Credentials:
    """The credentials as they are (probes run often: the script is not run again for them)."""
    return Credentials.of_stack()


def pulsar_admin_tls(config: StackConfig) -> Tls | None:
    """The stack's superuser on Pulsar's admin API: its token over TLS."""
    if not config.secure:
        return None
    found = stored_credentials()
    return Tls(found.ca_file, headers={"Authorization": f"Bearer {read_secret(found.admin_token)}"})


def server_tls(config: StackConfig) -> Tls | None:
    """A service that only proves itself (Feast): the CA that signed its certificate."""
    return Tls(stored_credentials().ca_file) if config.secure else None


def mutual_tls(config: StackConfig) -> Tls | None:
    """A service that asks for the client's certificate too (Flink's REST API)."""
    if not config.secure:
        return None
    found = stored_credentials()
    return Tls(found.ca_file, client_cert=(found.client_cert, found.client_key))


def redis_connection_string(config: StackConfig) -> str:
    """Feast's Redis connection string (feature_store.redis.yaml reads it from the environment),
    as the `feast` user in the secure profile: in an environment, on no command line."""
    found = credentials(config)
    if found is None:
        return config.redis_connection_string
    password = read_secret(found.redis_password("feast"))
    return f"{config.redis_connection_string},username=feast,password={password}"


def pulsar_client_options(config: StackConfig, role: str) -> dict[str, object]:
    """pulsar_client.connect's options for a role of infra/security/pulsar-roles.toml: its token
    and the CA, in the secure profile; none in the open one."""
    found = credentials(config)
    if found is None:
        return {}
    return {"token_file": found.pulsar_token(role), "tls_trust_certs_file": str(found.ca_file)}
