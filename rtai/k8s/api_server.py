"""A real Kubernetes API server for `rtai k8s dry-run`: etcd and kube-apiserver built from their Go
modules (cached under .cache/k8s-servers; the first build takes about 5 min on 2 cores, almost all
of it kube-apiserver), started on free local ports with a token of its own, and stopped with
everything they spawned.

kube-apiserver is built from `k8s.io/kubernetes`, whose go.mod points its staging modules
(k8s.io/api, k8s.io/client-go, ...) at folders of its own repository: a wrapper module maps each
to its published version (v0.x.y for Kubernetes v1.x.y), read from that go.mod itself.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from rtai import paths
from rtai.console import done, step
from rtai.errors import PrerequisiteError
from rtai.stack import processes
from rtai.stack.flink_reporter import free_port

KUBERNETES = "v1.37.2"
STAGING = "v0.37.2"  # the staging modules' version for KUBERNETES
ETCD = "v3.7.0"
BUILD_DIR = paths.CACHE_DIR / "k8s-servers" / KUBERNETES
PACKAGES = {"kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver", "etcd": "go.etcd.io/etcd/server/v3"}
STAGING_REPLACE = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", re.MULTILINE)
READY_TIMEOUT_S = 120.0


def go() -> str:
    found = shutil.which("go") or next((p for p in ("/usr/local/go/bin/go",) if os.access(p, os.X_OK)), None)
    if found is None:
        raise PrerequisiteError("go (1.24 or later) is needed to build kube-apiserver and etcd: install Go")
    return found


def _go(*args: str, cwd: Path, timeout_s: float = 1800) -> str:
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    result = subprocess.run([go(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0:
        raise PrerequisiteError(f"go {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def binaries() -> dict[str, Path]:
    """etcd and kube-apiserver, built on first use and cached."""
    built = {name: BUILD_DIR / "bin" / name for name in PACKAGES}
    if all(path.is_file() for path in built.values()):
        return built
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    step(f"resolving kube-apiserver {KUBERNETES} and etcd {ETCD} from the Go module proxy")
    (BUILD_DIR / "go.mod").write_text("module rtai.invalid/k8s-servers\n\ngo 1.24\n")
    module = json.loads(_go("mod", "download", "-json", f"k8s.io/kubernetes@{KUBERNETES}", cwd=BUILD_DIR))
    staging = sorted(set(STAGING_REPLACE.findall(Path(module["GoMod"]).read_text())))
    replaces = "".join(f"\t{name} => {name} {STAGING}\n" for name in staging)
    (BUILD_DIR / "go.mod").write_text(f"module rtai.invalid/k8s-servers\n\ngo 1.24\n\nreplace (\n{replaces})\n")
    _go("get", f"k8s.io/kubernetes/cmd/kube-apiserver@{KUBERNETES}", f"go.etcd.io/etcd/server/v3@{ETCD}", cwd=BUILD_DIR)
    done("modules resolved", started)
    step("building kube-apiserver and etcd, once: about 5 min on 2 cores, cached under .cache/k8s-servers")
    for name, package in PACKAGES.items():
        started = time.monotonic()
        step(f"building {name}")
        _go("build", "-o", str(built[name]), package, cwd=BUILD_DIR)
        done(f"{name} built", started)
    return built


@dataclass(frozen=True)
class ApiServer:
    url: str
    kubeconfig: Path


@contextmanager
def running(work_dir: Path) -> Iterator[ApiServer]:
    """etcd and kube-apiserver on free ports, data and logs under work_dir, until the block ends."""
    built = binaries()
    shutil.rmtree(work_dir, ignore_errors=True)
    (work_dir / "certs").mkdir(parents=True)
    token = secrets.token_hex(16)
    tokens = work_dir / "tokens.csv"
    tokens.write_text(f"{token},admin,admin,system:masters\n")
    tokens.chmod(0o600)
    sa_key = work_dir / "certs" / "service-accounts.key"
    subprocess.run(["openssl", "genrsa", "-out", str(sa_key), "2048"], check=True, capture_output=True)
    etcd_port, etcd_peer_port, api_port = free_port(), free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{etcd_port}"
    etcd = [
        str(built["etcd"]),
        *("--data-dir", str(work_dir / "etcd")),
        *("--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url),
        *("--listen-peer-urls", f"http://127.0.0.1:{etcd_peer_port}"),
    ]
    apiserver = [
        str(built["kube-apiserver"]),
        *("--etcd-servers", etcd_url, "--secure-port", str(api_port), "--bind-address", "127.0.0.1"),
        *("--cert-dir", str(work_dir / "certs"), "--token-auth-file", str(tokens)),
        *("--authorization-mode", "RBAC", "--service-cluster-ip-range", "10.96.0.0/16"),
        *("--service-account-issuer", "https://kubernetes.default.svc", "--service-account-key-file", str(sa_key)),
        *("--service-account-signing-key-file", str(sa_key), "--anonymous-auth=false"),
    ]
    started = []
    try:
        for name, command in (("etcd", etcd), ("kube-apiserver", apiserver)):
            log = work_dir / f"{name}.log"
            started.append(
                processes.spawn(
                    command, log_file=log, pid_file=work_dir / f"{name}.pid", env=dict(os.environ), cwd=work_dir
                )
            )
        url = f"https://127.0.0.1:{api_port}"
        _wait_ready(url, token, work_dir / "kube-apiserver.log")
        kubeconfig = work_dir / "kubeconfig"
        kubeconfig.write_text(_kubeconfig(url, token))
        kubeconfig.chmod(0o600)
        yield ApiServer(url, kubeconfig)
    finally:
        for record in reversed(started):
            processes.stop(record, 30)


def _wait_ready(url: str, token: str, log: Path) -> None:
    started = time.monotonic()
    step("starting etcd and kube-apiserver")
    while time.monotonic() - started < READY_TIMEOUT_S:
        try:
            answer = httpx.get(f"{url}/readyz", headers={"Authorization": f"Bearer {token}"}, verify=False, timeout=5)
            if answer.status_code == 200:
                done("kube-apiserver ready", started)
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    tail = log.read_text()[-2000:] if log.is_file() else ""
    raise PrerequisiteError(f"kube-apiserver was not ready within {READY_TIMEOUT_S:.0f} s; see {log}:\n{tail}")


def _kubeconfig(url: str, token: str) -> str:
    # The server's certificate is the self-signed one it made in its cert dir, for this run only.
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "dry-run", "cluster": {"server": url, "insecure-skip-tls-verify": True}}],
            "users": [{"name": "admin", "user": {"token": token}}],
            "contexts": [{"name": "dry-run", "context": {"cluster": "dry-run", "user": "admin"}}],
            "current-context": "dry-run",
        }
    )
