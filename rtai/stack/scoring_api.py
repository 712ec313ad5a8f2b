"""The scoring API as a stack service (`rtai stack up --with-api`): `rtai serve` on the stack's
pipeline (fraud.toml, or fraud-secure.toml in the secure profile), ready when /health is."""

from __future__ import annotations

import sys

from flink_jobs.config import pipeline_config
from rtai import paths
from rtai.stack import secure_profile
from rtai.stack.config import StackConfig
from rtai.stack.probes import http_ok
from rtai.stack.service import Scrape, Service

NAME = "scoring-api"


def service(config: StackConfig) -> Service:
    pipeline = paths.SECURE_PIPELINE if config.secure else paths.DEFAULT_PIPELINE
    api = pipeline_config.load(pipeline).scoring_api
    scheme = "https" if api.tls_cert_file else "http"
    return Service(
        name=NAME,
        ports={"http": api.port},
        command=[sys.executable, "-m", "rtai", "serve", "--pipeline", str(pipeline)],
        ready=lambda: http_ok(f"{scheme}://{api.host}:{api.port}/health", secure_profile.server_tls(config)),
        ready_timeout_s=120,
        stop_timeout_s=30,
        metrics=Scrape("http", job=NAME),  # its own /metrics
        needs=("pulsar", "feast", "triton"),  # it reads Feast and the served model from its start
    )
