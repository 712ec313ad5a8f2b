"""The Kubernetes manifests (infra/k8s/), checked offline: every kustomization rendered by
`kubectl kustomize`, every object valid against the Kubernetes API's schema (strict) or the Flink
operator's CRD, the autoscaler's keys real, and what they name consistent with the project's own
files. No API server runs here (docs/scaling.md says why), so each check is also shown to
catch a broken copy of the manifests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rtai.k8s import check, manifests


@pytest.fixture(scope="module")
def schemas() -> tuple[dict, set[str]]:
    return manifests.flink_deployment_schema(), manifests.autoscaler_options()


@pytest.mark.parametrize("kustomization", manifests.KUSTOMIZATIONS)
def test_every_kustomization_renders_and_passes_every_check(kustomization, schemas, record_property):
    count, problems = check.kustomization_problems(manifests.K8S_DIR / kustomization, *schemas)
    record_property("objects", count)
    assert count >= 16
    assert problems == []


def test_the_renders_hold_what_the_design_needs():
    operator = {manifests.name_of(m): m for m in manifests.render(manifests.K8S_DIR / "overlays" / "prod")}
    inference = operator["FlinkDeployment/fraud-inference"]
    assert inference["metadata"]["namespace"] == "rtai"
    assert inference["spec"]["flinkConfiguration"]["job.autoscaler.enabled"] == "true"
    assert inference["spec"]["jobManager"]["replicas"] == 2
    assert {"HorizontalPodAutoscaler/triton", "HorizontalPodAutoscaler/feast"} <= operator.keys()
    reactive = {manifests.name_of(m): m for m in manifests.render(manifests.K8S_DIR / "reactive")}
    assert "FlinkDeployment/fraud-inference" not in reactive
    properties = reactive["ConfigMap/fraud-inference-flink"]["data"]["FLINK_PROPERTIES"]
    assert "scheduler-mode: reactive" in properties
    hpa = reactive["HorizontalPodAutoscaler/fraud-inference-taskmanager"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "fraud-inference-taskmanager"
    assert [m["type"] for m in hpa["metrics"]] == ["External", "Resource"]


BREAKAGES = {
    "a misspelled Deployment field": (
        "base/redis.yaml",
        ("  replicas: 1\n", "  replica: 1\n"),
        "Deployment/redis",
    ),
    "an unknown FlinkDeployment field": (
        "operator/inference-job.yaml",
        ("  jobManager:\n", "  jobManager:\n    replica: 2\n"),
        "unknown field spec.jobManager.replica",
    ),
    "a misspelled autoscaler key": (
        "operator/inference-job.yaml",
        ("job.autoscaler.target.utilization:", "job.autoscaler.target.utilisation:"),
        "job.autoscaler.target.utilisation: not an option of the Flink autoscaler",
    ),
    "Triton's Service on another port than the pipeline's": (
        "base/triton.yaml",
        ("      port: 8001\n", "      port: 9001\n"),
        "inference_job.triton.url = triton:8001: no Service with that name and port",
    ),
    "an image the project does not build": (
        "base/feast.yaml",
        ("image: rtai/feast:0.67.0", "image: rtai/feast:latest"),
        "image rtai/feast:latest is not one of infra/docker/images.env's",
    ),
    "a container port the image does not listen on": (
        "base/triton.yaml",
        ("containerPort: 8002", "containerPort: 8012"),
        "are not all what rtai/triton:pytriton-0.7.0 listens on",
    ),
    "an HPA on a metric the adapter does not serve": (
        "base/triton.yaml",
        ("name: triton_queue_time_per_request_us", "name: triton_queue_time_us"),
        "metric triton_queue_time_us is not one prometheus-adapter serves",
    ),
    "a pipeline the config refuses": (
        "base/pipeline.toml",
        ('url = "triton:8001"', 'url = "triton:8001"\nretries = -1'),
        "pipeline.toml: ",
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_broken_copy_of_the_manifests_is_caught(breakage, schemas, tmp_path):
    relative, (old, new), expected = BREAKAGES[breakage]
    copy = tmp_path / "k8s"
    shutil.copytree(manifests.K8S_DIR, copy)
    path: Path = copy / relative
    assert old in path.read_text(), f"{relative} no longer holds {old!r}"
    path.write_text(path.read_text().replace(old, new, 1))
    _, problems = check.kustomization_problems(copy / "overlays" / "dev", *schemas)
    assert any(expected in str(problem) for problem in problems), problems
