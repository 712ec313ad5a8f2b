"""Triton Inference Server: the `tritonserver` binary of the nvidia-pytriton wheel, on CPU.

That binary holds only the python backend. The project's Python-based ONNX
backend (infra/triton/backends/onnxruntime/model.py) is put beside it in a
backend directory under .run/, so models with `backend: "onnxruntime"` serve here.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path

from rtai import paths
from rtai.errors import PrerequisiteError
from rtai.security.credentials import read_secret
from rtai.stack import secure_profile
from rtai.stack.config import StackConfig
from rtai.stack.probes import http_ok
from rtai.stack.service import Scrape, Service, data_dir

PROJECT_BACKENDS = paths.INFRA_DIR / "triton" / "backends"
EXIT_TIMEOUT_S = 5


def site_packages() -> Path:
    return paths.VENVS_DIR / "triton" / "lib" / "python3.11" / "site-packages"


def server_dir() -> Path:
    return site_packages() / "pytriton" / "tritonserver"


def backend_dir() -> Path:
    return data_dir("triton") / "backends"


def shm_prefix(config: StackConfig) -> str:
    # Unique per stack, so a cleanup never touches another server's regions.
    return f"rtai_triton_{config.triton.grpc_port}_"


def assemble_backends() -> None:
    """The wheel's python backend and stub, plus the project's backends (linked, so edits apply)."""
    source = server_dir()
    binary = source / "bin" / "tritonserver"
    if not binary.is_file():
        raise PrerequisiteError(f"tritonserver not found at {binary}: run the set-up first (`make setup`)")
    python_backend = backend_dir() / "python"
    python_backend.mkdir(parents=True, exist_ok=True)
    for item in (
        source / "backends" / "python" / "libtriton_python.so",
        source / "backends" / "python" / "triton_python_backend_utils.py",
        source / "python_backend_stubs" / "3.11" / "triton_python_backend_stub",
    ):
        shutil.copy2(item, python_backend / item.name)
    for project_backend in PROJECT_BACKENDS.iterdir():
        link = backend_dir() / project_backend.name
        if not link.is_symlink():
            link.symlink_to(project_backend, target_is_directory=True)


def remove_shared_memory(config: StackConfig) -> None:
    for region in Path("/dev/shm").glob(f"{shm_prefix(config)}*"):
        region.unlink(missing_ok=True)


def environment() -> dict[str, str]:
    """The python backend's stub runs Python in isolated mode (PYTHONPATH is ignored):
    it finds the environment through `python3` on PATH, and needs libpython3.11
    (all environments share the set-up's base interpreter, hence this one's LIBDIR)."""
    venv_bin = paths.VENVS_DIR / "triton" / "bin"
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    return {
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "LD_LIBRARY_PATH": f"{site_packages() / 'nvidia_pytriton.libs'}:{libdir}",
    }


def command(config: StackConfig) -> list[str]:
    triton = config.triton
    return [
        str(server_dir() / "bin" / "tritonserver"),
        f"--model-repository={triton.repository_path()}",
        f"--backend-directory={backend_dir()}",
        f"--http-port={triton.http_port}",
        f"--grpc-port={triton.grpc_port}",
        f"--metrics-port={triton.metrics_port}",
        "--http-address=127.0.0.1",
        "--grpc-address=127.0.0.1",
        "--metrics-address=127.0.0.1",
        # explicit: models change only through the repository API (model register/promote).
        "--model-control-mode=explicit",
        "--load-model=*",
        f"--exit-timeout-secs={EXIT_TIMEOUT_S}",
        "--log-verbose=0",
        f"--backend-config=python,shm-region-prefix-name={shm_prefix(config)}",
    ]


# The APIs that change what the server serves or reads from: a request needs the admin key.
RESTRICTED = "model-repository,shared-memory"


def secure_flags(config: StackConfig) -> list[str]:
    """gRPC over TLS; the model-repository and shared-memory APIs behind the admin key on both
    endpoints (HTTP has no TLS in Triton: it stays on loopback, for health and metrics' sake).
    Triton reads the key only from its command line (redacted in the stack's log)."""
    found = secure_profile.credentials(config)
    if found is None:
        return []
    key = f"admin-key={read_secret(found.triton_admin_key)}"
    return [
        "--grpc-use-ssl=true",
        f"--grpc-server-cert={found.server_cert}",
        f"--grpc-server-key={found.server_key}",
        f"--grpc-restricted-protocol={RESTRICTED}:{key}",
        f"--http-restricted-api={RESTRICTED}:{key}",
    ]


def prepare(config: StackConfig) -> list[str]:
    assemble_backends()
    return secure_flags(config)


def service(config: StackConfig) -> Service:
    triton = config.triton
    return Service(
        name="triton",
        ports={"http": triton.http_port, "grpc": triton.grpc_port, "metrics": triton.metrics_port},
        command=command(config),
        env=environment(),
        ready=lambda: http_ok(f"{config.triton_http_url}/v2/health/ready"),
        metrics=Scrape("metrics", job="triton"),
        ready_timeout_s=triton.ready_timeout_s,
        # The server waits up to its exit timeout for open connections, then the stubs exit.
        stop_timeout_s=EXIT_TIMEOUT_S + 10,
        prepare=lambda: prepare(config),
        after_stop=lambda _clean: remove_shared_memory(config),
    )
