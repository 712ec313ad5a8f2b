"""Where a pipeline config says a secret is: a file or an environment variable, never the value.
The value is read when a client is built, so it is in no config file, command line or log."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from flink_jobs.errors import UserFacingError


@dataclass(frozen=True)
class SecretSource:
    file: str = ""  # a path (relative: to the working directory); the file's text, stripped
    env: str = ""  # the name of an environment variable

    def validate(self) -> tuple[str, str] | None:
        if self.file and self.env:
            return "file", "give the secret's file or its environment variable, not both"
        return None

    @property
    def configured(self) -> bool:
        return bool(self.file or self.env)

    def path(self) -> Path:
        return Path(self.file).resolve()

    def read(self, what: str) -> str:
        """The secret's value; `what` names it in the error (e.g. "inference_job.pulsar_token")."""
        if self.env:
            value = os.environ.get(self.env, "").strip()
            if not value:
                raise UserFacingError(f"{what}: environment variable {self.env} is not set")
            return value
        try:
            value = self.path().read_text().strip()
        except OSError as err:
            raise UserFacingError(f"{what}: cannot read {self.file}: {err.strerror}") from None
        if not value:
            raise UserFacingError(f"{what}: {self.file} is empty")
        return value


def existing_file(path: str, what: str) -> str:
    """An absolute path to a file the config names ("" stays ""); a clear error when it is missing."""
    if not path:
        return ""
    resolved = Path(path).resolve()
    if not resolved.is_file():
        raise UserFacingError(f"{what}: no file {path}")
    return str(resolved)
