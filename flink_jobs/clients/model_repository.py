"""A Triton model repository as files: `<repository>/<model>/config.pbtxt` and numbered version
folders beside it. `rtai model register|promote|rollback` write the served versions into the
config's `version_policy`; a process that scores in itself reads them from there."""

from __future__ import annotations

import re

_POLICY = re.compile(r"version_policy: \{ specific: \{ versions: \[ ([\d, ]+) \] \} \}")


def served_versions(config_text: str) -> list[int]:
    match = _POLICY.search(config_text)
    if not match:
        raise ValueError("config.pbtxt has no `version_policy: { specific: ... }` written by `rtai model register`")
    return [int(v) for v in match.group(1).split(",")]


def with_served_versions(config_text: str, versions: list[int]) -> str:
    served_versions(config_text)  # the policy must be there to be replaced
    listed = ", ".join(map(str, sorted(versions)))
    return _POLICY.sub(f"version_policy: {{ specific: {{ versions: [ {listed} ] }} }}", config_text)
