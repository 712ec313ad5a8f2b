"""The served version of a model: list, promote and roll back, on disk and on the running Triton.

Promotion rewrites the version policy in config.pbtxt and asks Triton (explicit model control)
to load the model again through its repository API: Triton loads the new version before it
unloads the old one, so requests keep being answered during the switch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tritonclient.utils import InferenceServerException

from flink_jobs.clients import model_repository
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
            model_repository.served_versions(_config(repository, name).read_text()),
            sorted(ready.get(name, [])),
        )
        for name in names
    ]


def promote(repository: Path, name: str, version: int, triton: TritonAccess) -> None:
    """Serves `version` from now on: config first, then Triton loads it (and unloads the old one)."""
    serve(repository, name, [version], triton)


def served(repository: Path, name: str) -> list[int]:
    """The versions the model's config.pbtxt serves."""
    return model_repository.served_versions(_config(repository, name).read_text())


def serve(repository: Path, name: str, versions: list[int], triton: TritonAccess) -> None:
    """Serves exactly `versions` from now on: config first, then Triton loads them (and unloads the others)."""
    config = _config(repository, name)
    missing = sorted(set(versions) - set(triton_config.versions(repository / name)))
    if missing:
        raise UserFacingError(f"{name} has no version {', '.join(map(str, missing))} in {repository}")
    listed = ", ".join(map(str, versions))
    before = config.read_text()
    config.write_text(model_repository.with_served_versions(before, versions))
    client = triton.client()
    try:
        client.load_model(name, headers=triton.admin_headers, client_timeout=LOAD_TIMEOUT_S)
    except InferenceServerException as err:
        config.write_text(before)  # Triton kept serving the old version; so does the config
        raise UserFacingError(f"Triton at {triton.url} did not load {name} version(s) {listed}: {err}") from None
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
    serve(repository, name, served(repository, name), triton)
    return True


def serve_beside(repository: Path, name: str, version: int, role: str, triton: TritonAccess) -> list[int]:
    """Serves `version` (a canary's candidate, a shadow) beside the versions served now (returned)."""
    now = served(repository, name)
    if version in now:
        raise UserFacingError(f"{name} serves version {version} already: a {role} is a version not served")
    serve(repository, name, [*now, version], triton)
    return now


def stop_serving(repository: Path, name: str, version: int, triton: TritonAccess) -> list[int]:
    """Stops serving `version`; the versions still served."""
    now = served(repository, name)
    if version not in now or len(now) == 1:
        raise UserFacingError(f"{name} serves versions {now}: {version} is not one of several served")
    kept = [v for v in now if v != version]
    serve(repository, name, kept, triton)
    return kept


def rollback(repository: Path, name: str, triton: TritonAccess) -> int:
    """Serves the highest version below the one served now; returns it."""
    now = served(repository, name)[0]
    older = [v for v in triton_config.versions(repository / name) if v < now]
    if not older:
        raise UserFacingError(f"{name} serves version {now}: there is no older version to roll back to")
    promote(repository, name, older[-1], triton)
    return older[-1]
