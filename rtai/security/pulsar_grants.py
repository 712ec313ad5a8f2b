"""`rtai security grant`: each role of infra/security/pulsar-roles.toml gets its actions on a
pipeline's topics, through Pulsar's admin API as the superuser. The broker refuses permissions
on a topic that does not exist yet (allowAclChangesOnNonExistentTopics=false), so the topics are
created first (non-partitioned, as the jobs' auto-created ones are)."""

from __future__ import annotations

import json
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass

from flink_jobs.config.pipeline_config import PipelineConfig
from flink_jobs.config.topics import full_name
from flink_jobs.errors import UserFacingError
from rtai.security.credentials import PULSAR_ROLES
from rtai.security.tls import Tls

ACTIONS = ("produce", "consume")
# What a transactional client looks up first (lookup is allowed to produce or consume).
TRANSACTION_COORDINATORS = "persistent://pulsar/system/transaction_coordinator_assign"


@dataclass(frozen=True)
class Grant:
    role: str
    topic: str  # full name
    actions: tuple[str, ...]


def grants(pipeline: PipelineConfig) -> list[Grant]:
    """Per role and topic, the actions the roles file gives it on this pipeline's topics."""
    roles = tomllib.loads(PULSAR_ROLES.read_text())["roles"]
    by_key: dict[tuple[str, str], set[str]] = {}
    for role, allowed in roles.items():
        if allowed.get("transactions") is True:
            by_key[(role, TRANSACTION_COORDINATORS)] = {"consume"}
        for action, topic_keys in allowed.items():
            if action == "transactions":
                continue
            if action not in ACTIONS:
                raise UserFacingError(f"{PULSAR_ROLES}: roles.{role}.{action}: unknown action (known: {ACTIONS})")
            for key in topic_keys:
                if not hasattr(pipeline.topics, key):
                    raise UserFacingError(f"{PULSAR_ROLES}: roles.{role}.{action}: {key!r} is not a [topics] key")
                by_key.setdefault((role, full_name(getattr(pipeline.topics, key))), set()).add(action)
    return [Grant(role, topic, tuple(sorted(actions))) for (role, topic), actions in sorted(by_key.items())]


def _admin(method: str, url: str, admin: Tls, body: object | None = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    headers = {**admin.headers, **({"Content-Type": "application/json"} if data is not None else {})}
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30, context=admin.context()) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def apply(admin_url: str, admin: Tls, pipeline: PipelineConfig) -> list[Grant]:
    """As the superuser (`admin`: its token's header and the broker's CA), creates the pipeline's
    topics that are missing and grants every role its actions."""
    given = grants(pipeline)
    for topic in sorted({grant.topic for grant in given} - {TRANSACTION_COORDINATORS}):
        path = topic.replace("://", "/")
        status = _admin("PUT", f"{admin_url}/admin/v2/{path}", admin)
        if status not in (204, 409):  # 409: it exists
            raise UserFacingError(f"could not create {topic} (HTTP {status})")
    for grant in given:
        path = grant.topic.replace("://", "/")
        status = _admin("POST", f"{admin_url}/admin/v2/{path}/permissions/{grant.role}", admin, list(grant.actions))
        if status != 204:
            raise UserFacingError(
                f"could not grant {grant.role} {'+'.join(grant.actions)} on {grant.topic} (HTTP {status})"
            )
    return given
