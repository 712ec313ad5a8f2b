"""One kustomization of infra/k8s rendered once and checked: the API schemas and the autoscaler's
options (manifests.py), the references to the project's own files (project_refs.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rtai.k8s import manifests, project_refs


def kustomization_problems(
    folder: Path, crd_schema: dict[str, Any], options: set[str]
) -> tuple[int, list[manifests.Problem]]:
    """(objects rendered, their problems)."""
    rendered = manifests.render(folder)
    label = folder.name if folder.parent.name != "overlays" else f"overlays/{folder.name}"
    problems = manifests.check(label, rendered, crd_schema, options)
    problems += [manifests.Problem(label, where, what) for where, what in project_refs.problems(rendered)]
    return len(rendered), problems
