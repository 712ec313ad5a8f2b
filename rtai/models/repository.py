"""The served version of a model: list, promote and roll back, on disk and on the running Triton.

Promotion rewrites the version policy in config.pbtxt and asks Triton (explicit model control)
to load the model again through its repository API: Triton loads the new version before it
unloads the old one, so requests keep being answered during the switch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tritonclient.utils import InferenceServerException

from flink_jobs.errors import UserFacingError
from rtai.models import triton_config
from rtai.models.triton_access import TritonAccess

LOAD_TIMEOUT_S = 120


@dataclass(frozen=True)
class ModelVersions:
    name: str
    on_disk: list[int]
    served: list[int]  # by config.pbtxt
    ready: list[int]  # by the running Triton (empty when it is not reachable)


def _config(repository: Path, name: str) -> Path:
    config = repository / name / "config.pbtxt"
    if not config.is_file():
        raise UserFacingError(f"no model {name!r} in {repository} (no {config.name}): register one first")
    return config


def list_models(repository: Path, triton: TritonAccess | None) -> list[ModelVersions]:
    ready: dict[str, list[int]] = {}
    if triton:
        client = triton.client()
        try:
            for entry in client.get_model_repository_index(headers=triton.admin_headers, as_json=True).get(
                "models", []
            ):
                if entry.get("state") == "READY":
                    ready.setdefault(entry["name"], []).append(int(entry["version"]))
        except InferenceServerException:
            ready = {}
        finally:
            client.close()
    names = sorted(p.parent.name for p in repository.glob("*/config.pbtxt"))
    return [
        ModelVersions(
            name,
            triton_config.versions(repository / name),
            triton_config.served_versions(_config(repository, name).read_text()),
            sorted(ready.get(name, [])),
        )
        for name in names
    ]


def promote(repository: Path, name: str, version: int, triton: TritonAccess) -> None:
    """Serves `version` from now on: config first, then Triton loads it (and unloads the old one)."""
    config = _config(repository, name)
    if version not in triton_config.versions(repository / name):
        raise UserFacingError(f"{name} has no version {version} in {repository}")
    before = config.read_text()
    config.write_text(triton_config.with_served_version(before, version))
    client = triton.client()
    try:
        client.load_model(name, headers=triton.admin_headers, client_timeout=LOAD_TIMEOUT_S)
    except InferenceServerException as err:
        config.write_text(before)  # Triton kept serving the old version; so does the config
        raise UserFacingError(f"Triton at {triton.url} did not load {name} version {version}: {err}") from None
    finally:
        client.close()


def load_if_running(repository: Path, name: str, triton: TritonAccess) -> bool:
    """Has a running Triton load the model as its config now says; False when no Triton answers."""
    client = triton.client()
    try:
        if not client.is_server_live():
            return False
    except InferenceServerException:
        return False
    finally:
        client.close()
    served = triton_config.served_versions(_config(repository, name).read_text())[0]
    promote(repository, name, served, triton)
    return True


def rollback(repository: Path, name: str, triton: TritonAccess) -> int:
    """Serves the highest version below the one served now; returns it."""
    served = triton_config.served_versions(_config(repository, name).read_text())[0]
    older = [v for v in triton_config.versions(repository / name) if v < served]
    if not older:
        raise UserFacingError(f"{name} serves version {served}: there is no older version to roll back to")
    promote(repository, name, older[-1], triton)
    return older[-1]
