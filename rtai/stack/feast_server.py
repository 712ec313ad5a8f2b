"""The Feast feature server (`feast serve`) over feature_repo/, from the feast environment."""

from __future__ import annotations

from rtai import paths
from rtai.stack import secure_profile
from rtai.stack.config import StackConfig
from rtai.stack.feast_repo import FeastRepo, feast_cli
from rtai.stack.probes import http_ok
from rtai.stack.service import Scrape, Service, data_dir

# `feast serve --metrics` with its metrics endpoint on [feast] metrics_port (see the script).
SERVE_WITH_METRICS = paths.INFRA_DIR / "feast" / "serve_with_metrics.py"


def prepare(config: StackConfig) -> list[str]:
    """The server needs a registry: apply the repository once if it has none yet. In the secure
    profile it serves over TLS (`feast serve --key --cert`)."""
    feast_cli()
    repo = FeastRepo.of_stack(config)
    if not (repo.path / "data" / "registry.db").is_file():
        repo.apply()
    found = secure_profile.credentials(config)
    return ["--key", str(found.server_key), "--cert", str(found.server_cert)] if found else []


def environment(config: StackConfig) -> dict[str, str]:
    return {
        "XDG_RUNTIME_DIR": str(data_dir("feast")),
        "REDIS_CONNECTION_STRING": secure_profile.redis_connection_string(config),
    }


def service(config: StackConfig) -> Service:
    feast = config.feast
    return Service(
        name="feast",
        ports={"http": feast.port, "metrics": feast.metrics_port},
        command=[
            str(paths.venv_python("feast")),
            str(SERVE_WITH_METRICS),
            str(feast.metrics_port),
            "-f",
            str(feast.feature_store_yaml()),
            "serve",
            "--metrics",
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
        env=lambda: environment(config),
        ready=lambda: http_ok(f"{config.feast_url}/health", secure_profile.server_tls(config)),
        metrics=Scrape("metrics", job="feast"),
        ready_timeout_s=feast.ready_timeout_s,
        stop_timeout_s=20,
        prepare=lambda: prepare(config),
        needs=("redis",),  # the online store, in the Redis profile
    )
