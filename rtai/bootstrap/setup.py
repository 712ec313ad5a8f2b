"""`rtai setup` / `make setup`: everything the project needs, installed once, checked every time."""

from __future__ import annotations

import os
import shutil
import subprocess

from rtai.bootstrap import java_artifacts, prereqs, venvs
from rtai.console import step
from rtai.errors import PrerequisiteError

# Host programs some services need, from Debian's packages: program -> package.
REDIS = {"redis-server": "redis-server"}
# Debian's packages also register system services (ports 9090, 9093, 9121); the stack runs its own.
MONITORING = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
    "prometheus-redis-exporter": "prometheus-redis-exporter",
}

# kubectl renders the Kubernetes manifests' kustomizations (infra/k8s) for their checks.
KUBECTL = {"kubectl": "kubernetes-client"}


def install_with_apt(programs: dict[str, str]) -> None:
    """Installs the packages of the programs not on PATH (nothing when all are there)."""
    missing = sorted({package for program, package in programs.items() if shutil.which(program) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        raise PrerequisiteError(
            f"{', '.join(p for p in programs if shutil.which(p) is None)} not found: "
            f"install with `sudo apt-get install {' '.join(missing)}`"
        )
    step(f"installing {' '.join(missing)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=env)


def run(*, with_redis: bool = False, with_monitoring: bool = False, with_kubectl: bool = False) -> None:
    prereqs.check_all()
    venvs.ensure_all()
    java_artifacts.ensure_all()
    if with_redis:
        install_with_apt(REDIS)
    if with_monitoring:
        install_with_apt(MONITORING)
    if with_kubectl:
        install_with_apt(KUBECTL)
