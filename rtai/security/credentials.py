"""Where scripts/make-credentials.sh writes the secure profile's credentials (.run/secrets/),
and their values, so that output can be scanned and redacted for them."""

from __future__ import annotations

import os
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from flink_jobs.config.secret_source import SecretSource
from flink_jobs.errors import UserFacingError
from rtai import paths

MAKE_CREDENTIALS = paths.PROJECT_ROOT / "scripts" / "make-credentials.sh"
PULSAR_ROLES = paths.INFRA_DIR / "security" / "pulsar-roles.toml"


def superuser() -> str:
    """The Pulsar role the stack itself acts as (health checks, grants)."""
    return tomllib.loads(PULSAR_ROLES.read_text())["superuser"]


@dataclass(frozen=True)
class Credentials:
    root: Path

    @classmethod
    def of_stack(cls) -> Credentials:
        return cls(paths.RUN_DIR / "secrets")

    def ensure(self) -> Credentials:
        """Makes what is missing (the script is idempotent: ~0.1 s when everything is there)."""
        result = subprocess.run(
            ["bash", str(MAKE_CREDENTIALS)],
            env={**os.environ, "RTAI_RUN_DIR": str(self.root.parent)},
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise UserFacingError(f"{MAKE_CREDENTIALS.name} failed: {result.stderr.strip()[-2000:]}")
        return self

    @property
    def ca_file(self) -> Path:
        return self.root / "tls" / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.root / "tls" / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.root / "tls" / "server.key"

    @property
    def client_cert(self) -> Path:
        return self.root / "tls" / "client.crt"

    @property
    def client_key(self) -> Path:
        return self.root / "tls" / "client.key"

    @property
    def pulsar_secret_key(self) -> Path:
        return self.root / "pulsar" / "secret.key"

    def pulsar_token(self, role: str) -> Path:
        return self.root / "pulsar" / "tokens" / f"{role}.jwt"

    @property
    def admin_token(self) -> Path:
        return self.pulsar_token(superuser())

    @property
    def redis_acl(self) -> Path:
        return self.root / "redis" / "users.acl"

    def redis_password(self, user: str) -> Path:
        return self.root / "redis" / f"{user}.password"

    @property
    def triton_admin_key(self) -> Path:
        return self.root / "triton" / "admin.key"

    @property
    def scoring_api_token(self) -> Path:
        return self.root / "scoring-api" / "token"

    @property
    def flink_keystore(self) -> Path:
        return self.root / "flink" / "keystore.p12"

    @property
    def flink_truststore(self) -> Path:
        return self.root / "flink" / "truststore.p12"

    @property
    def flink_store_password(self) -> Path:
        return self.root / "flink" / "store.password"

    def secret_values(self) -> list[str]:
        """Every secret's text: tokens, passwords, keys (PEM bodies line by line)."""
        values: list[str] = []
        for file in sorted(self.root.rglob("*")):
            if not file.is_file() or file.suffix in (".crt", ".srl", ".acl", ".p12"):
                continue
            if file.name == "secret.key":  # Pulsar's HMAC key is raw bytes
                values.append(file.read_bytes().hex())
                continue
            text = file.read_text().strip()
            if "-----BEGIN" in text:
                values.extend(line for line in text.splitlines() if line and not line.startswith("-----"))
            elif text:
                values.append(text)
        return values


def read_secret(file: Path) -> str:
    """A credential's value (stripped); missing or empty, an error saying how to make it."""
    return SecretSource(file=str(file)).read(f"{file.name} (make the credentials: scripts/make-credentials.sh)")
