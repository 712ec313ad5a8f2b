"""Content stamps that make the set-up idempotent: a step whose inputs did not change is skipped."""

from __future__ import annotations

import hashlib
from pathlib import Path


def digest(*parts: bytes | str) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part.encode() if isinstance(part, str) else part)
        sha.update(b"\0")
    return sha.hexdigest()


def is_current(stamp_file: Path, expected: str) -> bool:
    return stamp_file.is_file() and stamp_file.read_text().strip() == expected


def write(stamp_file: Path, value: str) -> None:
    stamp_file.parent.mkdir(parents=True, exist_ok=True)
    stamp_file.write_text(value + "\n")
