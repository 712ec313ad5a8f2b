"""Every kustomization of infra/k8s applied with server-side dry run to a real API server
(api_server.py): the Flink operator's CRDs registered first (from its api jar, as its Helm chart
installs them), each namespace the objects name created, then `kubectl apply --dry-run=server`:
the server runs its defaulting, its schema validation (strict: an unknown field is an error) and
its admission for each object, and stores nothing."""

from __future__ import annotations

import subprocess
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from flink_jobs.errors import UserFacingError
from rtai.bootstrap import java_artifacts
from rtai.k8s import api_server, manifests

CRD_ENTRIES = "META-INF/fabric8/"
ESTABLISHED_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Outcome:
    kustomization: str
    accepted: list[str]  # kind/name, as kubectl names them
    refused: str  # kubectl's error output, empty when every object was accepted


def operator_crds() -> str:
    with zipfile.ZipFile(java_artifacts.k8s_jar("flink-kubernetes-operator-api")) as jar:
        names = sorted(n for n in jar.namelist() if n.startswith(CRD_ENTRIES) and n.endswith("-v1.yml"))
        return "\n---\n".join(jar.read(name).decode() for name in names)


def _kubectl(server: api_server.ApiServer, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    command = [manifests.kubectl(), "--kubeconfig", str(server.kubeconfig), *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120, check=False)


def run(work_dir: Path) -> list[Outcome]:
    with api_server.running(work_dir) as server:
        registered = _kubectl(server, "apply", "--server-side", "-f", "-", stdin=operator_crds())
        if registered.returncode != 0:
            raise UserFacingError(f"the API server refused the operator's CRDs: {registered.stderr}")
        _wait_established(server)
        return [_applied(server, kustomization) for kustomization in manifests.KUSTOMIZATIONS]


def _wait_established(server: api_server.ApiServer) -> None:
    # `kubectl wait` fails at once while a new CRD has no conditions yet: asked again until then.
    deadline = time.monotonic() + ESTABLISHED_TIMEOUT_S
    while True:
        waited = _kubectl(server, "wait", "--for", "condition=Established", "crd", "--all", "--timeout=10s")
        if waited.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise UserFacingError(f"the operator's CRDs were not established: {waited.stderr}")
        time.sleep(1)


def _applied(server: api_server.ApiServer, kustomization: str) -> Outcome:
    rendered = manifests.render(manifests.K8S_DIR / kustomization)
    for namespace in sorted({m["metadata"].get("namespace") for m in rendered} - {None}):
        _kubectl(server, "create", "namespace", namespace)  # already there from another kustomization: fine
    applied = _kubectl(server, "apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump_all(rendered))
    accepted = [line.split()[0] for line in applied.stdout.splitlines() if line.endswith("(server dry run)")]
    return Outcome(kustomization, accepted, applied.stderr.strip() if applied.returncode != 0 else "")
