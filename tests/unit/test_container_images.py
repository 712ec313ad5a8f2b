"""The images' files agree with each other: every image named in infra/docker/images.env has a
Dockerfile that the build script builds, on a BASE build argument, as a non-root user, with a
health check; everything a Dockerfile copies is sent in the build context (.dockerignore); the
compose stack names only those images."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

from rtai import paths
from tests import container_stack

DOCKER_DIR = paths.INFRA_DIR / "docker"
BUILD_SCRIPT = paths.PROJECT_ROOT / "scripts" / "container-images.sh"


def image_keys() -> list[str]:
    return [key for key in container_stack.images() if key != "BASE_IMAGE"]


def dockerfile(key: str) -> Path:
    return DOCKER_DIR / key.removesuffix("_IMAGE").lower() / "Dockerfile"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def context_includes() -> list[str]:
    """The .dockerignore's re-included patterns (it excludes everything first)."""
    lines = [line.strip() for line in (paths.PROJECT_ROOT / ".dockerignore").read_text().splitlines()]
    assert "*" in lines, "the .dockerignore is expected to exclude everything, then re-include"
    return [line[1:].rstrip("/") for line in lines if line.startswith("!")]


def in_context(source: str, includes: list[str]) -> bool:
    """Whether the context holds `source`, or for a folder some of its files."""
    source = source.rstrip("/")
    return any(
        source == pattern
        or source.startswith(pattern + "/")
        or pattern.startswith(source + "/")
        or fnmatch.fnmatch(source, pattern)
        for pattern in includes
    )


@pytest.mark.parametrize("key", image_keys())
def test_every_image_has_a_dockerfile_that_the_script_builds(key):
    assert dockerfile(key).is_file(), f"{key} has no {dockerfile(key)}"
    assert f'"${key}"' in BUILD_SCRIPT.read_text(), f"scripts/container-images.sh does not build {key}"


@pytest.mark.parametrize("key", image_keys())
def test_every_dockerfile_builds_on_base_as_a_user_with_a_health_check(key):
    steps = instructions(dockerfile(key))
    names = [name for name, _ in steps]
    first_from = names.index("FROM")
    assert any(name == "ARG" and re.fullmatch(r"BASE=\S+", args) for name, args in steps[:first_from]), (
        "no ARG BASE=<official image> before FROM"
    )
    assert steps[first_from][1] == "${BASE}"
    assert "HEALTHCHECK" in names
    users = [args for name, args in steps if name == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), f"runs as {users[-1] if users else 'root'}"


@pytest.mark.parametrize("key", image_keys())
def test_everything_a_dockerfile_copies_is_in_the_build_context(key):
    includes = context_includes()
    for name, args in instructions(dockerfile(key)):
        if name != "COPY" or args.startswith("--from"):
            continue
        sources = [s.replace("${PULSAR_VERSION}", "*") for s in args.split()[:-1] if not s.startswith("--")]
        missing = [s for s in sources if not in_context(s, includes)]
        assert not missing, f"{dockerfile(key)} copies {missing}, excluded by .dockerignore"


def test_the_compose_stack_names_only_the_projects_images():
    named = re.findall(r"image: \$\{(\w+)\}", (DOCKER_DIR / "compose.yaml").read_text())
    assert named
    assert set(named) <= set(image_keys())


def test_in_context_follows_the_dockerignore_rules():
    includes = ["infra/envs/*.lock", "flink_jobs", ".cache/pulsar/apache-pulsar-*"]
    assert in_context("infra/envs/feast.lock", includes)
    assert in_context("flink_jobs/", includes)
    assert in_context("infra/envs/", includes)
    assert in_context(".cache/pulsar/apache-pulsar-*/", includes)
    assert not in_context("infra/prometheus/rules/", includes)
