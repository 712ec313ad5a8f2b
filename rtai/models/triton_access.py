"""How the tools reach the stack's Triton over gRPC: plain in the open profile; in the secure one
over TLS, with the key Triton's model-repository API asks for (header `admin-key`)."""

from __future__ import annotations

from dataclasses import dataclass

import tritonclient.grpc as grpcclient

from rtai.security.credentials import read_secret
from rtai.stack import secure_profile
from rtai.stack.config import StackConfig

ADMIN_KEY_HEADER = "admin-key"  # the key's name in the server's --*-restricted-* flags (and HTTP header)
# Over gRPC, Triton looks for the key's name with this prefix.
GRPC_HEADER_PREFIX = "triton-grpc-protocol-"


@dataclass(frozen=True)
class TritonAccess:
    url: str  # host:port of the gRPC endpoint
    ca_file: str | None = None  # TLS, trusting this CA; None: plain gRPC
    admin_key: str = ""

    @classmethod
    def of_stack(cls, config: StackConfig) -> TritonAccess:
        found = secure_profile.credentials(config)
        if found is None:
            return cls(config.triton_grpc_url)
        return cls(config.triton_grpc_url, str(found.ca_file), read_secret(found.triton_admin_key))

    @property
    def admin_headers(self) -> dict[str, str] | None:
        return {GRPC_HEADER_PREFIX + ADMIN_KEY_HEADER: self.admin_key} if self.admin_key else None

    def client(self) -> grpcclient.InferenceServerClient:
        if self.ca_file is None:
            return grpcclient.InferenceServerClient(self.url)
        return grpcclient.InferenceServerClient(self.url, ssl=True, root_certificates=self.ca_file)
