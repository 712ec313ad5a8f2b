"""The Kubernetes manifests (infra/k8s/) checked offline, without an API server: each kustomization
rendered by `kubectl kustomize`, every object validated against the API's own schema (Kubernetes'
from the kubernetes-validate package, strict: an unknown field is an error; FlinkDeployment
against the Flink Kubernetes Operator's CRD from its api jar, unknown fields refused as the API
server's strict field validation does), the autoscaler's option names against the operator's
autoscaler jar, and what the manifests name (images, ports, config maps, volumes, scale targets,
metrics, the pipeline) against the project's own files.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from rtai import paths
from rtai.bootstrap import java_artifacts

K8S_DIR = paths.INFRA_DIR / "k8s"
KUSTOMIZATIONS = ("operator", "reactive", "overlays/dev", "overlays/prod")
KUBERNETES_VERSION = "1.31"
CRD_ENTRY = "META-INF/fabric8/flinkdeployments.flink.apache.org-v1.yml"
AUTOSCALER_OPTIONS = "org/apache/flink/autoscaler/config/AutoScalerOptions.class"
AUTOSCALER_PREFIX = "job.autoscaler."
Manifest = dict[str, Any]


@dataclass(frozen=True)
class Problem:
    kustomization: str
    where: str  # kind/name
    what: str

    def __str__(self) -> str:
        return f"{self.kustomization}: {self.where}: {self.what}"


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        raise FileNotFoundError("kubectl not found: `make setup-services` installs it (apt-get: kubernetes-client)")
    return found


def render(kustomization: Path) -> list[Manifest]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(kustomization)], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise ValueError(f"kubectl kustomize {kustomization} failed: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def name_of(manifest: Manifest) -> str:
    return f"{manifest['kind']}/{manifest['metadata']['name']}"


def flink_deployment_schema() -> dict[str, Any]:
    with zipfile.ZipFile(java_artifacts.k8s_jar("flink-kubernetes-operator-api")) as jar:
        crd = yaml.safe_load(jar.read(CRD_ENTRY))
    (version,) = crd["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


def autoscaler_options() -> set[str]:
    """The autoscaler's option names, job.autoscaler.<key>: each key is a string constant of its
    options class (autoScalerConfig("target.utilization"), ...)."""
    with zipfile.ZipFile(java_artifacts.k8s_jar("flink-autoscaler")) as jar:
        constants = class_strings(jar.read(AUTOSCALER_OPTIONS))
    return {AUTOSCALER_PREFIX + text for text in constants if OPTION_KEY.fullmatch(text)}


OPTION_KEY = re.compile(r"[a-z][a-z0-9-]*(\.[a-z0-9-]+)*")
# Constant pool entries by tag: bytes after the tag (1, UTF-8, is sized by its own length field).
CONSTANT_SIZES = {
    **{tag: 4 for tag in (3, 4, 9, 10, 11, 12, 17, 18)},
    **{tag: 8 for tag in (5, 6)},
    **{tag: 2 for tag in (7, 8, 16, 19, 20)},
    15: 3,
}


def class_strings(class_file: bytes) -> list[str]:
    """The UTF-8 entries of a class file's constant pool (JVM spec 4.4)."""
    count = int.from_bytes(class_file[8:10], "big")
    strings, at, index = [], 10, 1
    while index < count:
        tag = class_file[at]
        if tag == 1:
            length = int.from_bytes(class_file[at + 1 : at + 3], "big")
            strings.append(class_file[at + 3 : at + 3 + length].decode("utf-8", "replace"))
            at += 3 + length
        else:
            at += 1 + CONSTANT_SIZES[tag]
        index += 2 if tag in (5, 6) else 1  # a long or a double takes two entries
    return strings


def unknown_fields(value: Any, schema: dict[str, Any], at: str = "") -> Iterator[str]:
    """Fields the schema does not name (the API server's strict field validation refuses them)."""
    if isinstance(value, dict) and "properties" in schema:
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return
        for key, item in value.items():
            if key in schema["properties"]:
                yield from unknown_fields(item, schema["properties"][key], f"{at}.{key}")
            elif not schema.get("additionalProperties"):
                yield f"unknown field {at}.{key}".replace(" .", " ")
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, item in value.items():
            yield from unknown_fields(item, schema["additionalProperties"], f"{at}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            yield from unknown_fields(item, schema["items"], f"{at}[{i}]")


def schema_problems(manifest: Manifest, crd_schema: dict[str, Any]) -> Iterator[str]:
    if manifest["kind"] == "FlinkDeployment":
        for error in jsonschema.Draft7Validator(crd_schema).iter_errors(manifest):
            yield f"{'.'.join(map(str, error.absolute_path))}: {error.message}"
        # The API server itself handles apiVersion, kind and metadata: the CRD's schema starts at spec.
        yield from unknown_fields(manifest.get("spec", {}), crd_schema["properties"]["spec"], "spec")
        return
    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        yield f"{'.'.join(map(str, error.path))}: {error.message}"
    except kubernetes_validate.SchemaNotFoundError:
        yield f"no schema for {manifest['apiVersion']} {manifest['kind']} in Kubernetes {KUBERNETES_VERSION}"


def check(label: str, rendered: list[Manifest], crd_schema: dict[str, Any], options: set[str]) -> list[Problem]:
    """Every problem of one kustomization's rendered objects: schemas and autoscaler keys."""
    problems = []
    for manifest in rendered:
        where = name_of(manifest)
        problems += [Problem(label, where, what) for what in schema_problems(manifest, crd_schema)]
        spec = manifest.get("spec", {})
        flink_config = spec.get("flinkConfiguration", {}) if manifest["kind"] == "FlinkDeployment" else {}
        for key in flink_config:
            if key.startswith(AUTOSCALER_PREFIX) and key not in options:
                problems.append(Problem(label, where, f"{key}: not an option of the Flink autoscaler"))
    return problems
