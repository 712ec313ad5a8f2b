"""The Feast feature server over HTTP: the one place the jobs talk to Feast.

The jobs never import Feast (its import alone takes ~7 s and its pins clash with
PyFlink's); they call `feast serve`'s `/push` and `/get-online-features`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

import httpx

log = logging.getLogger(__name__)


class FeastUnavailable(RuntimeError):
    """The feature server did not accept a request within the retry budget."""


class FeastClient:
    def __init__(self, url: str, *, timeout_s: float, retries: int, backoff_ms: int) -> None:
        self.url = url.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_ms / 1000
        self._http = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, body: Mapping[str, object]) -> httpx.Response:
        """POST with bounded retries and doubling backoff. A 4xx is the caller's mistake: no retry."""
        delay = self.backoff_s
        problem = ""
        for attempt in range(self.retries + 1):
            try:
                response = self._http.post(f"{self.url}{path}", json=body)
            except httpx.HTTPError as err:
                problem = f"{type(err).__name__}: {err}"
            else:
                if response.status_code < 400:
                    return response
                if response.status_code < 500:
                    raise ValueError(f"Feast {path} rejected the request ({response.status_code}): {response.text}")
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
            if attempt < self.retries:
                log.warning(
                    "feast %s failed (%s); retry %d/%d in %.2f s", path, problem, attempt + 1, self.retries, delay
                )
                time.sleep(delay)
                delay *= 2
        raise FeastUnavailable(f"Feast {self.url}{path} failed {self.retries + 1} times; last: {problem}")

    def push(self, push_source: str, columns: Mapping[str, Sequence[object]], *, to: str) -> None:
        """Writes rows (column -> values, with an ISO-8601 `event_timestamp` column) through a PushSource."""
        self._post("/push", {"push_source_name": push_source, "df": dict(columns), "to": to})
