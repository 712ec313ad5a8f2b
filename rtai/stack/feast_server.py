"""The Feast feature server (`feast serve`) over feature_repo/, from the feast environment."""

from __future__ import annotations

from rtai import paths
from rtai.features.feast_repo import FeastRepo, feast_cli
from rtai.stack.config import StackConfig
from rtai.stack.probes import http_ok
from rtai.stack.service import Service, data_dir


def apply_if_needed(config: StackConfig) -> list[str]:
    """The server needs a registry: apply the repository once if it has none yet."""
    feast_cli()
    repo = FeastRepo.of_stack(config)
    if not (repo.path / "data" / "registry.db").is_file():
        repo.apply()
    return []


def service(config: StackConfig) -> Service:
    feast = config.feast
    return Service(
        name="feast",
        ports={"http": feast.port},
        command=[
            str(paths.venv_bin("feast", "feast")),
            "-f",
            str(feast.feature_store_yaml()),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(feast.port),
            "--workers",
            str(feast.workers),
            # Workers recycled every ~1,000 requests stall a request for ~0.8 s: never recycle.
            "--max-requests",
            "0",
            "--no-access-log",
        ],
        cwd=feast.repo_path(),
        # gunicorn keeps a control socket under $XDG_RUNTIME_DIR (default ~/.gunicorn): one per stack.
        env={"XDG_RUNTIME_DIR": str(data_dir("feast")), "REDIS_CONNECTION_STRING": config.redis_connection_string},
        ready=lambda: http_ok(f"http://127.0.0.1:{feast.port}/health"),
        ready_timeout_s=feast.ready_timeout_s,
        stop_timeout_s=20,
        prepare=lambda: apply_if_needed(config),
    )
