"""How a client of the stack reaches a service of the secure profile over TLS, standard library
only (the stack's probes and the grants use it before any environment's packages)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Tls:
    """The CA that signed the service's certificate, a client certificate where it asks for one,
    and request headers (a token)."""

    ca_file: Path
    client_cert: tuple[Path, Path] | None = None  # certificate, key
    headers: dict[str, str] = field(default_factory=dict)

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if self.client_cert:
            context.load_cert_chain(*map(str, self.client_cert))
        return context
