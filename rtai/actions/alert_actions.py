"""`rtai actions run`: every alert on the alerts topic POSTed to the pipeline's `[actions] url`.

The way to plug in a real action (a case-management system, a card block, a ticket): an HTTP
endpoint that takes the alert's JSON. Delivery:

- An alert is acknowledged on its subscription only after the endpoint answered 2xx, or after it
  went to the action dead-letter topic: a crash before that redelivers it, so none is lost.
- Each POST carries `Idempotency-Key: <the alert's event_id>`: the endpoint sees an alert once in
  the normal case; after a crash, the alerts answered in its last moments come again (the client
  sends acknowledgements in groups, every 100 ms) under the same keys, for it to drop.
- A 5xx, 408, 429 or no answer is retried `retries` times, the backoff doubling from backoff_ms;
  past that, or another 4xx (the endpoint refused the alert itself), the alert goes to
  topics.action_dead_letter with the reason, and the next alert is taken.
- A Shared subscription: several consumers may run side by side.

Metrics, to the stack's Prometheus (job `rtai`, process `alert-actions`):
rtai_alert_actions_total{outcome="delivered|dead_lettered"}, rtai_alert_action_attempts_total{result}
(an HTTP status or no_answer), rtai_alert_action_duration_seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import threading
import time
from dataclasses import dataclass

import httpx
import pulsar
from prometheus_client import Counter, Histogram

from flink_jobs.config.pipeline_config import ActionsSection, PipelineConfig
from flink_jobs.config.secret_source import existing_file
from flink_jobs.config.topics import full_name
from flink_jobs.stages.output.dead_letters import dead_letter
from rtai import pulsar_client
from rtai.monitoring import process_metrics

log = logging.getLogger(__name__)
RETRIED_STATUSES = frozenset({408, 429})  # and every 5xx
JOB_NAME = "alert-actions"  # in its dead letters
STOPPING = "stopping"  # an outcome's reason when a signal cut its retries short


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    reason: str = ""  # why not


class ActionMetrics:
    def __init__(self) -> None:
        self.alerts = Counter("rtai_alert_actions", "alerts by outcome", ["outcome"])
        self.attempts = Counter("rtai_alert_action_attempts", "POSTs by result", ["result"])
        self.duration = Histogram("rtai_alert_action_duration_seconds", "POST time")


class Endpoint:
    """The configured endpoint, called with retries."""

    def __init__(self, actions: ActionsSection, metrics: ActionMetrics) -> None:
        self.actions, self.metrics = actions, metrics
        headers = {"Content-Type": "application/json"}
        if actions.token.configured:
            headers["Authorization"] = f"Bearer {actions.token.read('actions.token')}"
        verify: str | bool = existing_file(actions.ca_file, "actions.ca_file") or True
        self.http = httpx.Client(headers=headers, timeout=actions.timeout_s, verify=verify)

    def deliver(self, alert: bytes, key: str, stopping: threading.Event) -> Outcome:
        delay, problem = self.actions.backoff_ms / 1000, ""
        for attempt in range(self.actions.retries + 1):
            started = time.perf_counter()
            try:
                answer = self.http.post(self.actions.url, content=alert, headers={"Idempotency-Key": key})
            except httpx.HTTPError as err:
                problem = f"no answer from {self.actions.url}: {type(err).__name__}: {err}"
                self.metrics.attempts.labels("no_answer").inc()
            else:
                self.metrics.duration.observe(time.perf_counter() - started)
                self.metrics.attempts.labels(str(answer.status_code)).inc()
                if answer.is_success:
                    return Outcome(True)
                problem = f"{self.actions.url} answered {answer.status_code}: {answer.text[:200]}"
                if answer.status_code < 500 and answer.status_code not in RETRIED_STATUSES:
                    return Outcome(False, f"refused: {problem}")
            if attempt == self.actions.retries:
                break
            log.warning("alert %s: %s; retry %d/%d in %.2f s", key, problem, attempt + 1, self.actions.retries, delay)
            if stopping.wait(delay):
                return Outcome(False, STOPPING)
            delay *= 2
        return Outcome(False, f"not delivered after {self.actions.retries + 1} attempts: {problem}")

    def close(self) -> None:
        self.http.close()


def run(config: PipelineConfig, client_options: dict | None = None) -> None:
    """Delivers alerts until SIGTERM or SIGINT."""
    actions = config.actions
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    metrics = ActionMetrics()
    client = pulsar_client.connect(config.pulsar.service_url, **(client_options or {}))
    endpoint = Endpoint(actions, metrics)
    try:
        with process_metrics.serving("alert-actions"):
            consumer = client.subscribe(
                full_name(config.topics.alerts),
                actions.subscription,
                consumer_type=pulsar.ConsumerType.Shared,
                initial_position=pulsar.InitialPosition.Earliest,
                receiver_queue_size=100,
            )
            dead_letters = client.create_producer(full_name(config.topics.action_dead_letter))
            log.info("delivering alerts of %s to %s", config.topics.alerts, actions.url)
            while not stopping.is_set():
                try:
                    message = consumer.receive(timeout_millis=500)
                except pulsar.Timeout:
                    continue
                outcome = endpoint.deliver(message.data(), _key(message.data()), stopping)
                if outcome.reason == STOPPING:
                    break  # not acknowledged: delivered again after the restart
                if not outcome.delivered:
                    payload = message.data().decode("utf-8", "replace")
                    source = config.topics.alerts
                    dead_letters.send(dead_letter(payload, outcome.reason, source_topic=source, job=JOB_NAME).encode())
                    log.warning("alert %s dead-lettered: %s", _key(message.data()), outcome.reason)
                consumer.acknowledge(message)
                metrics.alerts.labels("delivered" if outcome.delivered else "dead_lettered").inc()
    finally:
        endpoint.close()
        client.close()


def _key(alert: bytes) -> str:
    """The alert's event_id (an alert is one event's); its raw text's hash if it has none."""
    try:
        key = json.loads(alert).get("event_id")
    except (ValueError, AttributeError):
        key = None
    if isinstance(key, str) and key:
        return key
    return "sha256:" + hashlib.sha256(alert).hexdigest()
