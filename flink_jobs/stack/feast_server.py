"""The Feast feature server (`feast serve`) over feature_repo/, from the feast environment."""

from __future__ import annotations

from flink_jobs import feast_repo, paths
from flink_jobs.stack.config import StackConfig
from flink_jobs.stack.probes import http_ok
from flink_jobs.stack.service import Service, data_dir


def apply_if_needed(config: StackConfig) -> list[str]:
    """The server needs a registry: apply the repository once if it has none yet."""
    feast_repo.feast_cli()
    repo = config.feast.repo_path()
    if not (repo / "data" / "registry.db").is_file():
        feast_repo.apply(repo)
    return []


def service(config: StackConfig) -> Service:
    feast = config.feast
    return Service(
        name="feast",
        ports={"http": feast.port},
        command=[
            str(paths.venv_bin("feast", "feast")),
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
        env={"XDG_RUNTIME_DIR": str(data_dir("feast"))},
        ready=lambda: http_ok(f"http://127.0.0.1:{feast.port}/health"),
        ready_timeout_s=feast.ready_timeout_s,
        stop_timeout_s=20,
        prepare=lambda: apply_if_needed(config),
    )
