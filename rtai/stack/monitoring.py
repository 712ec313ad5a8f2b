"""Prometheus, Alertmanager (Debian's packages) and the alert webhook receiver, on loopback.

Their config comes from infra/prometheus/ (prometheus.yml and alertmanager.yml are templates
filled from infra/stack.toml's [monitoring]; the rule files are read where they are). Prometheus
scrapes the file_sd folders of rtai.stack.scrape_targets: the stack's services, the local jobs and
the project's own processes.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from string import Template

from rtai import paths
from rtai.errors import PrerequisiteError
from rtai.stack import processes, scrape_targets
from rtai.stack.config import StackConfig
from rtai.stack.probes import http_ok
from rtai.stack.service import Scrape, Service, data_dir

PROMETHEUS_DIR = paths.INFRA_DIR / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PrerequisiteError(f"{name} not found on PATH: run `make setup-monitoring` (apt-get install {name})")
    return found


def _seconds(value: float) -> str:
    """A Prometheus duration: whole seconds or milliseconds."""
    return f"{value:g}s" if float(value).is_integer() else f"{round(value * 1000)}ms"


def write_prometheus_config(config: StackConfig) -> str:
    m = config.monitoring
    text = Template((PROMETHEUS_DIR / "prometheus.yml").read_text()).substitute(
        scrape_interval=_seconds(m.scrape_interval_s),
        scrape_timeout=_seconds(min(m.scrape_interval_s, 10.0)),
        evaluation_interval=_seconds(m.evaluation_interval_s),
        rules_dir=RULES_DIR,
        alertmanager_port=m.alertmanager_port,
        targets_dir=scrape_targets.targets_dir(),
        local_jobs_dir=scrape_targets.local_jobs_dir(),
        processes_dir=scrape_targets.processes_dir(),
    )
    path = data_dir("prometheus") / "prometheus.yml"
    path.write_text(text)
    return str(path)


def write_alertmanager_config(config: StackConfig) -> str:
    m = config.monitoring
    text = Template((PROMETHEUS_DIR / "alertmanager.yml").read_text()).substitute(
        group_wait=_seconds(m.group_wait_s),
        group_interval=_seconds(m.group_interval_s),
        repeat_interval=_seconds(m.repeat_interval_s),
        webhook_port=m.webhook_port,
    )
    path = data_dir("alertmanager") / "alertmanager.yml"
    path.write_text(text)
    return str(path)


def _prepare_prometheus(config: StackConfig, running: Callable[[], list[Service]]) -> list[str]:
    program = _program("prometheus")
    conf = write_prometheus_config(config)
    for folder in (scrape_targets.targets_dir(), scrape_targets.local_jobs_dir(), scrape_targets.processes_dir()):
        folder.mkdir(parents=True, exist_ok=True)
    scrape_targets.forget_all_but(running())
    return [
        program,
        f"--config.file={conf}",
        f"--storage.tsdb.path={data_dir('prometheus') / 'tsdb'}",
        f"--storage.tsdb.retention.time={config.monitoring.retention}",
        f"--web.listen-address=127.0.0.1:{config.monitoring.prometheus_port}",
        f"--web.external-url={config.prometheus_url}/",  # alerts link here, not to the host's name
        "--log.level=warn",
    ]


def _prepare_alertmanager(config: StackConfig) -> list[str]:
    program = _program("prometheus-alertmanager")
    return [
        program,
        f"--config.file={write_alertmanager_config(config)}",
        f"--storage.path={data_dir('alertmanager') / 'data'}",
        f"--web.listen-address=127.0.0.1:{config.monitoring.alertmanager_port}",
        f"--web.external-url={config.alertmanager_url}/",
        "--cluster.listen-address=",  # a single Alertmanager: no gossip port
        "--log.level=warn",
    ]


def services(config: StackConfig, all_services: Callable[[], list[Service]]) -> list[Service]:
    """The webhook receiver first, Prometheus last: each one's downstream is up before it."""
    m = config.monitoring

    def running() -> list[Service]:
        records = {s.name: processes.read_pid_file(s.pid_file) for s in all_services()}
        return [s for s in all_services() if (r := records[s.name]) is not None and processes.is_running(r)]

    return [
        Service(
            name="alert-webhook",
            ports={"http": m.webhook_port},
            command=[
                sys.executable,
                "-m",
                "rtai.monitoring.alert_webhook",
                "--port",
                str(m.webhook_port),
                "--file",
                str(data_dir("alert-webhook") / "alerts.jsonl"),
            ],
            ready=lambda: http_ok(f"{config.alert_webhook_url}/-/healthy"),
            ready_timeout_s=m.ready_timeout_s,
            stop_timeout_s=10,
            metrics=Scrape("http", job="alert-webhook"),
        ),
        Service(
            name="alertmanager",
            ports={"http": m.alertmanager_port},
            command=[],
            ready=lambda: http_ok(f"{config.alertmanager_url}/-/ready"),
            ready_timeout_s=m.ready_timeout_s,
            stop_timeout_s=10,
            prepare=lambda: _prepare_alertmanager(config),
            metrics=Scrape("http", job="alertmanager"),
            needs=("alert-webhook",),
        ),
        Service(
            name="prometheus",
            ports={"http": m.prometheus_port},
            command=[],
            ready=lambda: http_ok(f"{config.prometheus_url}/-/ready"),
            ready_timeout_s=m.ready_timeout_s,
            stop_timeout_s=20,
            prepare=lambda: _prepare_prometheus(config, running),
            metrics=Scrape("http", job="prometheus"),
            needs=("alertmanager",),
        ),
    ]
