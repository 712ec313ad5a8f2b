"""Pulsar topic names, in Pulsar's own form: {persistent|non-persistent}://tenant/namespace/topic."""

from __future__ import annotations

import re

DEFAULT_TENANT = "public"
DEFAULT_NAMESPACE = "default"
_FULL_NAME = re.compile(r"^(persistent|non-persistent)://[\w.-]+/[\w.-]+/[\w.:-]+$")


def full_name(topic: str) -> str:
    """A short name (`transactions`) becomes `persistent://public/default/transactions`;
    a full name is checked and kept."""
    if "://" in topic:
        if not _FULL_NAME.match(topic):
            raise ValueError(f"not a Pulsar topic name: {topic!r}")
        return topic
    if not re.fullmatch(r"[\w.:-]+", topic):
        raise ValueError(f"not a Pulsar topic name: {topic!r}")
    return f"persistent://{DEFAULT_TENANT}/{DEFAULT_NAMESPACE}/{topic}"
