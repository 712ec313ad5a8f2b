"""What the rendered Kubernetes manifests name, checked against each other and the project's own
files: images (infra/docker/images.env), the servers' ports (infra/stack.toml's defaults, which
the images use), Services against the pods they select, the volumes' config maps and claims,
the HPAs' targets and metrics (helm/prometheus-adapter-values.yaml), and the pipeline config the
jobs mount (valid, its servers reachable by Service and port, its subscription the HPA's)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from flink_jobs.config import pipeline_config
from flink_jobs.errors import UserFacingError
from flink_jobs.jobs import MODULES
from rtai import paths
from rtai.k8s.manifests import K8S_DIR, Manifest, name_of
from rtai.stack import config as stack_config

IMAGES_ENV = paths.INFRA_DIR / "docker" / "images.env"
ADAPTER_VALUES = K8S_DIR / "helm" / "prometheus-adapter-values.yaml"
PULSAR_VALUES = K8S_DIR / "helm" / "pulsar-values.yaml"
# Where the job image holds the project's pipelines (infra/docker/flink/Dockerfile: COPY pipelines/).
IMAGE_PIPELINES = "/opt/rtai/pipelines/"


def project_images() -> set[str]:
    lines = [line.split("=", 1) for line in IMAGES_ENV.read_text().splitlines() if "=" in line and line[0] != "#"]
    return {value.strip() for _, value in lines}


def image_ports() -> dict[str, set[int]]:
    """The ports each project image listens on, by image name without its tag, as the stack's defaults set them."""
    stack = stack_config.load(paths.INFRA_DIR / "stack.toml")
    return {
        "rtai/feast": {stack.feast.port, stack.feast.metrics_port},
        "rtai/triton": {stack.triton.http_port, stack.triton.grpc_port, stack.triton.metrics_port},
        "rtai/flink-job": {stack.flink.rpc_port, stack.flink.rest_port, stack.flink.jobmanager_metrics_port},
        "rtai/redis": {stack.redis.port},
    }


def pod_spec(manifest: Manifest) -> dict:
    spec = manifest.get("spec", {})
    if manifest["kind"] == "FlinkDeployment":
        return spec.get("podTemplate", {}).get("spec", {})
    return spec.get("template", {}).get("spec", {})


def adapter_metrics() -> set[str]:
    rules = yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]
    return {rule["name"]["as"] for kind in ("custom", "external") for rule in rules.get(kind, [])}


def problems(manifests: list[Manifest]) -> Iterator[tuple[str, str]]:
    """(kind/name, what is wrong) for every reference that does not hold."""
    by_kind: dict[str, dict[str, Manifest]] = {}
    for manifest in manifests:
        by_kind.setdefault(manifest["kind"], {})[manifest["metadata"]["name"]] = manifest
    images, ports = project_images(), image_ports()
    for manifest in manifests:
        where = name_of(manifest)
        spec = pod_spec(manifest)
        image = manifest["spec"].get("image") if manifest["kind"] == "FlinkDeployment" else None
        for container in spec.get("containers", []):
            image = container.get("image", image)
            if image not in images:
                yield where, f"image {image} is not one of infra/docker/images.env's"
            declared = {port["containerPort"] for port in container.get("ports", [])}
            if image and not declared <= ports.get(image.split(":")[0], set()):
                yield where, f"ports {sorted(declared)} are not all what {image} listens on (infra/stack.toml)"
        for volume in spec.get("volumes", []):
            if "configMap" in volume and volume["configMap"]["name"] not in by_kind.get("ConfigMap", {}):
                yield where, f"volume {volume['name']}: no ConfigMap {volume['configMap']['name']}"
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim and claim not in by_kind.get("PersistentVolumeClaim", {}):
                yield where, f"volume {volume['name']}: no PersistentVolumeClaim {claim}"
    yield from _service_problems(by_kind)
    yield from _autoscaler_problems(by_kind)
    yield from _job_problems(by_kind)


def _pods(by_kind: dict[str, dict[str, Manifest]]) -> Iterator[tuple[dict, dict]]:
    """(pod labels, pod spec) of every Deployment."""
    for deployment in by_kind.get("Deployment", {}).values():
        yield deployment["spec"]["template"]["metadata"].get("labels", {}), pod_spec(deployment)


def _service_problems(by_kind: dict[str, dict[str, Manifest]]) -> Iterator[tuple[str, str]]:
    for name, service in by_kind.get("Service", {}).items():
        selector = service["spec"].get("selector", {})
        selected = [spec for labels, spec in _pods(by_kind) if selector.items() <= labels.items()]
        if not selected:
            yield f"Service/{name}", f"selects no pods ({selector})"
            continue
        named = {port["name"] for spec in selected for c in spec["containers"] for port in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            if isinstance(port.get("targetPort"), str) and port["targetPort"] not in named:
                yield f"Service/{name}", f"targetPort {port['targetPort']} is no container port of its pods"


def _autoscaler_problems(by_kind: dict[str, dict[str, Manifest]]) -> Iterator[tuple[str, str]]:
    served = adapter_metrics()
    for name, hpa in by_kind.get("HorizontalPodAutoscaler", {}).items():
        target = hpa["spec"]["scaleTargetRef"]
        if target["name"] not in by_kind.get(target["kind"], {}):
            yield f"HorizontalPodAutoscaler/{name}", f"scales {target['kind']}/{target['name']}, which is not there"
        for metric in hpa["spec"].get("metrics", []):
            kind = metric["type"]
            if kind in ("Pods", "External") and metric[kind.lower()]["metric"]["name"] not in served:
                yield (
                    f"HorizontalPodAutoscaler/{name}",
                    (
                        f"metric {metric[kind.lower()]['metric']['name']} is not one prometheus-adapter serves "
                        f"({ADAPTER_VALUES.name})"
                    ),
                )


def _job_problems(by_kind: dict[str, dict[str, Manifest]]) -> Iterator[tuple[str, str]]:
    configs = {name: cm for name, cm in by_kind.get("ConfigMap", {}).items() if "pipeline.toml" in cm.get("data", {})}
    if len(configs) != 1:
        yield "ConfigMap", f"expected one ConfigMap holding pipeline.toml, found {sorted(configs)}"
        return
    ((config_map_name, config_map),) = configs.items()
    try:
        pipeline = _pipeline(config_map["data"]["pipeline.toml"])
    except UserFacingError as error:
        yield f"ConfigMap/{config_map_name}", f"pipeline.toml: {error}"
        return
    services = by_kind.get("Service", {})
    for field, url in (
        ("inference_job.feast.url", pipeline.inference_job.feast.url),
        ("feature_job.feast.url", pipeline.feature_job.feast.url),
        ("inference_job.triton.url", pipeline.inference_job.triton.url),
    ):
        parts = urlsplit(url if "://" in url else f"grpc://{url}")
        service = services.get(parts.hostname or "")
        if service is None or parts.port not in {port["port"] for port in service["spec"]["ports"]}:
            yield f"ConfigMap/{config_map_name}", f"{field} = {url}: no Service with that name and port"
    pulsar = yaml.safe_load(PULSAR_VALUES.read_text())
    broker = f"pulsar-broker.{pulsar['namespace']}.svc.cluster.local"
    if urlsplit(pipeline.pulsar.service_url).hostname != broker:
        yield f"ConfigMap/{config_map_name}", f"pulsar.service_url is not the Helm release's broker {broker}"
    for name, hpa in by_kind.get("HorizontalPodAutoscaler", {}).items():
        for metric in hpa["spec"].get("metrics", []):
            wanted = metric.get("external", {}).get("metric", {}).get("selector", {}).get("matchLabels", {})
            subscription = pipeline.inference_job.subscription
            if "subscription" in wanted and wanted["subscription"] != subscription:
                yield (
                    f"HorizontalPodAutoscaler/{name}",
                    (f"backlog of subscription {wanted['subscription']}, the job's is {subscription}"),
                )
    for name, deployment in by_kind.get("FlinkDeployment", {}).items():
        args = deployment["spec"]["job"]["args"]
        if args[args.index("-pym") + 1] not in MODULES.values():
            yield f"FlinkDeployment/{name}", f"runs {args[args.index('-pym') + 1]}, not one of the project's jobs"


def _pipeline(text: str) -> pipeline_config.PipelineConfig:
    """The mounted pipeline config loaded as the job would, its `extends` read from this checkout."""
    local = text.replace(f'"{IMAGE_PIPELINES}', f'"{paths.PROJECT_ROOT / "pipelines"}/')
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pipeline.toml"
        path.write_text(local)
        return pipeline_config.load(path)
