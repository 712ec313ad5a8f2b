"""What Pulsar's admin API says about a topic's subscriptions (who consumes, how much was delivered),
and removing a subscription or a whole throwaway topic."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from flink_jobs.errors import UserFacingError
from rtai.stack import processes
from rtai.stack.probes import Tls, http_json


def _admin_path(topic: str) -> str:
    return topic.replace("persistent://", "persistent/")


def _stats(admin_url: str, topic: str, tls: Tls | None) -> dict:
    return http_json(f"{admin_url}/admin/v2/{_admin_path(topic)}/stats?subscriptionBacklogSize=true", tls) or {}


def _subscriptions(admin_url: str, topic: str, tls: Tls | None) -> dict:
    return _stats(admin_url, topic, tls).get("subscriptions", {})


def delete(admin_url: str, topic: str, subscription: str, tls: Tls | None = None) -> None:
    """Removes a subscription (and its backlog), even with consumers left; a missing one is fine.
    `tls`: the admin's token and CA on a secured broker (secure_profile.pulsar_admin_tls)."""
    path = f"{_admin_path(topic)}/subscription/{subscription}"
    _force_delete(admin_url, path, f"subscription {subscription} of {topic}", tls, timeout_s=10)


def delete_topic(admin_url: str, topic: str, tls: Tls | None = None) -> None:
    """Removes a topic and its data, even with producers or subscriptions left; a missing one is fine."""
    _force_delete(admin_url, _admin_path(topic), f"topic {topic}", tls, timeout_s=30)


def delete_topics(admin_url: str, namespace: str, prefix: str, tls: Tls | None = None) -> int:
    """Removes every persistent topic of `namespace` ("tenant/namespace") whose short name starts
    with `prefix` (throwaway topics, as the tests' "test-"); how many there were."""
    names = http_json(f"{admin_url}/admin/v2/persistent/{namespace}", tls) or []
    doomed = [name for name in names if name.rsplit("/", 1)[-1].startswith(prefix)]
    with ThreadPoolExecutor(max_workers=8) as pool:  # one round trip each, the broker does them at once
        list(pool.map(lambda topic: delete_topic(admin_url, topic, tls), doomed))
    return len(doomed)


def _force_delete(admin_url: str, path: str, what: str, tls: Tls | None, *, timeout_s: float) -> None:
    options = {"headers": tls.headers, "verify": tls.context()} if tls else {}
    response = httpx.delete(f"{admin_url}/admin/v2/{path}", params={"force": "true"}, timeout=timeout_s, **options)
    if response.status_code not in (204, 404):
        raise UserFacingError(f"could not delete {what}: {response.text[:200]}")


def delivered(admin_url: str, topic: str, subscription: str, tls: Tls | None = None) -> int:
    """Messages delivered to the subscription so far (Pulsar updates the counter in steps)."""
    return _subscriptions(admin_url, topic, tls).get(subscription, {}).get("msgOutCounter", 0)


def backlog(admin_url: str, topic: str, subscription: str, tls: Tls | None = None) -> int:
    """Messages of the topic the subscription has not acknowledged. Pulsar's msgBacklog counts
    entries (a producer's batch is one), so this is the backlog's bytes over the topic's bytes per
    message, at least one per entry, as the jobs' pendingRecords (SubscriptionBacklog.java)."""
    stats = _stats(admin_url, topic, tls)
    found = stats.get("subscriptions", {}).get(subscription, {})
    entries, messages_in, bytes_in = (
        found.get("msgBacklog", 0),
        stats.get("msgInCounter", 0),
        stats.get("bytesInCounter", 0),
    )
    if messages_in <= 0 or bytes_in <= 0:
        return entries
    return max(entries, round(found.get("backlogSize", 0) * messages_in / bytes_in))


def entries_in_backlog(admin_url: str, topic: str, subscription: str, tls: Tls | None = None) -> int:
    """Entries of the topic the subscription has not acknowledged, as Pulsar counts its backlog."""
    return _subscriptions(admin_url, topic, tls).get(subscription, {}).get("msgBacklog", 0)


def wait_until_consuming(
    admin_url: str,
    topic: str,
    subscriptions: set[str],
    consumers: dict[str, processes.PidRecord],
    timeout_s: float,
    tls: Tls | None = None,
) -> None:
    """Until every subscription on the full topic name has a consumer; fails when one of the
    consumer processes (a name that says where its log is -> its record) has stopped."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for name, record in consumers.items():
            if processes.exit_code(record) is not None:
                raise UserFacingError(f"the {name} stopped at start")
        found = _subscriptions(admin_url, topic, tls)
        if all(found.get(s, {}).get("consumers") for s in subscriptions):
            return
        time.sleep(0.5)
    raise UserFacingError(f"nothing consumed {topic} as {sorted(subscriptions)} within {timeout_s:.0f} s")
