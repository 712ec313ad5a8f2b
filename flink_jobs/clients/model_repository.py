"""A Triton model repository as files: `<repository>/<model>/config.pbtxt` and numbered version
folders beside it. `rtai model register|promote|rollback` write the served versions into the
config's `version_policy`; a process that scores in itself reads them from there. The config is
read and written as Triton's own ModelConfig message in protobuf's text format."""

from __future__ import annotations

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as pb


def _parsed(config_text: str) -> pb.ModelConfig:
    try:
        config = text_format.Parse(config_text, pb.ModelConfig())
    except text_format.ParseError as err:
        raise ValueError(f"config.pbtxt is not a Triton model config: {err}") from None
    if not config.version_policy.specific.versions:
        raise ValueError("config.pbtxt has no `version_policy: { specific: ... }` written by `rtai model register`")
    return config


def served_versions(config_text: str) -> list[int]:
    return list(_parsed(config_text).version_policy.specific.versions)


def with_served_versions(config_text: str, versions: list[int]) -> str:
    """The config with these versions served; its leading comment lines kept."""
    config = _parsed(config_text)
    del config.version_policy.specific.versions[:]
    config.version_policy.specific.versions.extend(sorted(versions))
    comments = "".join(line + "\n" for line in config_text.splitlines() if line.startswith("#"))
    return comments + text_format.MessageToString(config)
