"""The Feast feature server over HTTP: the one place the jobs talk to Feast.

The jobs never import Feast (its import alone takes ~7 s and its pins clash with
PyFlink's); they call `feast serve`'s `/push` and `/get-online-features`.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from flink_jobs.clients.call_stats import CallStats
from flink_jobs.clients.retry_policy import Retryable, RetryPolicy
from flink_jobs.config.pipeline_config import ServiceCalls
from flink_jobs.config.secret_source import existing_file
from flink_jobs.redaction import redact

log = logging.getLogger(__name__)
# httpx logs every request at INFO and httpcore each of its steps at DEBUG: inside a job, where
# every record goes to the JVM's log handler, that was ~3 % and ~6 % of the Python operators'
# time (py-spy). Failures are logged here, with retries.
for _chatty in ("httpx", "httpcore"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)


class FeastUnavailable(RuntimeError):
    """The feature server did not accept a request within the retry budget."""


@dataclass(frozen=True)
class FeatureColumn:
    """One feature for every requested entity, in request order, as `/get-online-features` returns it."""

    values: list[object]
    statuses: list[str]  # PRESENT, NOT_FOUND, OUTSIDE_MAX_AGE, ...
    event_timestamps: list[str]  # ISO-8601; the feature row's event time


class FeastClient:
    def __init__(self, url: str, *, timeout_s: float, retries: int, backoff_ms: int, ca_file: str = "") -> None:
        """ca_file: for https://, the CA certificate (PEM) that signed the server's ("" the system's)."""
        self.url = url.rstrip("/")
        verify = ssl.create_default_context(cafile=ca_file) if ca_file else True
        self._http = httpx.Client(timeout=timeout_s, verify=verify)
        self.stats = CallStats()
        self._retry = RetryPolicy(retries, backoff_ms / 1000, self.stats, log, self._unavailable)

    def _unavailable(self, path: str, attempts: int, problem: str) -> FeastUnavailable:
        return FeastUnavailable(f"Feast {self.url}{path} failed {attempts} times; last: {problem}")

    @classmethod
    def from_calls(cls, calls: ServiceCalls) -> FeastClient:
        """The client a pipeline config's feast section (`[inference_job.feast]`, `[feature_job.feast]`) describes."""
        return cls(
            calls.url,
            timeout_s=calls.timeout_s,
            retries=calls.retries,
            backoff_ms=calls.backoff_ms,
            ca_file=existing_file(calls.ca_file, "feast.ca_file"),
        )

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, body: Mapping[str, object]) -> httpx.Response:
        """POST with the retry budget. A 4xx is the caller's mistake: no retry."""
        return self._retry.call(path, self._attempt, path, body)

    def _attempt(self, path: str, body: Mapping[str, object]) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = self._http.post(f"{self.url}{path}", json=body)
        except httpx.HTTPError as err:
            self.stats.errors += 1
            raise Retryable(f"{type(err).__name__}: {err}") from None
        if response.status_code < 400:
            self.stats.answered(time.perf_counter() - started)
            return response
        self.stats.errors += 1
        if response.status_code < 500:
            raise ValueError(f"Feast {path} rejected the request ({response.status_code}): {redact(response.text)}")
        raise Retryable(f"HTTP {response.status_code}: {redact(response.text[:200])}")

    def push(self, push_source: str, columns: Mapping[str, Sequence[object]], *, to: str) -> None:
        """Writes rows (column -> values, with an ISO-8601 `event_timestamp` column) through a PushSource."""
        self._post("/push", {"push_source_name": push_source, "df": dict(columns), "to": to})

    def write_to_online_store(self, view: str, columns: Mapping[str, Sequence[object]]) -> None:
        """Writes rows (the view's join key, its features and an ISO-8601 `event_timestamp`)
        straight into a feature view's online store (`/write-to-online-store`; no push source)."""
        self._post("/write-to-online-store", {"feature_view_name": view, "df": dict(columns)})

    def online_features(
        self,
        entities: Mapping[str, Sequence[object]],
        *,
        features: Sequence[str] = (),
        feature_service: str = "",
        full_feature_names: bool = False,
    ) -> dict[str, FeatureColumn]:
        """Feature name -> its column, for `features` ("view:feature") or a FeatureService; with
        full_feature_names the names are "view__feature". The entity keys come back as columns too."""
        body: dict[str, object] = {"entities": dict(entities), "full_feature_names": full_feature_names}
        body.update({"feature_service": feature_service} if feature_service else {"features": list(features)})
        answer = self._post("/get-online-features", body).json()
        return {
            name: FeatureColumn(result["values"], result["statuses"], result["event_timestamps"])
            for name, result in zip(answer["metadata"]["feature_names"], answer["results"], strict=True)
        }
