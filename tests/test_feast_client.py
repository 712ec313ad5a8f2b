"""The Feast client's call rules against a real HTTP server in this process: a 5xx or a refused
connection is retried with doubling backoff up to the budget, then FeastUnavailable; a 4xx is the
caller's mistake and is not retried; the answer's columns are read by name, not by position."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest

from flink_jobs.clients.feast_client import FeastClient, FeastUnavailable
from flink_jobs.config.pipeline_config import FeastCalls
from tests.json_server import serving


class Script:
    """What the server answers, one status per request; the arrival time of each request."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.arrivals: list[float] = []
        self.bodies: list[dict] = []
        self.answer: dict = {}


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    def answer(_method: str, _path: str, body: bytes) -> tuple[int, object]:
        script.arrivals.append(time.monotonic())
        script.bodies.append(json.loads(body))
        status = script.statuses.pop(0) if script.statuses else 200
        return status, script.answer if status == 200 else {"detail": "scripted"}

    with serving(answer) as url:
        yield url, script


def test_a_server_error_is_retried_with_doubling_backoff_then_succeeds(server):
    url, script = server
    script.statuses = [503, 500]
    client = FeastClient(url, timeout_s=2, retries=3, backoff_ms=40)
    client.push("src", {"card_id": [1], "event_timestamp": ["2026-11-30T00:00:00Z"]}, to="online")
    client.close()
    assert len(script.arrivals) == 3
    gaps = [later - earlier for earlier, later in zip(script.arrivals, script.arrivals[1:], strict=False)]
    # At least the backoff (40, then 80 ms); a loaded machine adds, so the upper bound is generous.
    assert 0.040 <= gaps[0] < 1.0
    assert 0.080 <= gaps[1] < 1.0
    assert script.bodies[-1] == {
        "push_source_name": "src",
        "df": {"card_id": [1], "event_timestamp": ["2026-11-30T00:00:00Z"]},
        "to": "online",
    }


def test_past_the_budget_the_error_names_the_server_and_the_last_problem(server):
    url, script = server
    script.statuses = [502] * 10
    client = FeastClient(url, timeout_s=2, retries=2, backoff_ms=1)
    with pytest.raises(FeastUnavailable, match=r"/push failed 3 times; last: HTTP 502"):
        client.push("src", {"card_id": [1]}, to="online")
    assert len(script.arrivals) == 3


def test_a_client_error_is_not_retried(server):
    url, script = server
    script.statuses = [422]
    client = FeastClient(url, timeout_s=2, retries=5, backoff_ms=1)
    with pytest.raises(ValueError, match=r"rejected the request \(422\)"):
        client.online_features({"card_id": [1]}, feature_service="svc")
    assert len(script.arrivals) == 1


def test_a_refused_connection_is_retried_then_fails():
    client = FeastClient("http://127.0.0.1:1", timeout_s=1, retries=2, backoff_ms=20)
    started = time.monotonic()
    with pytest.raises(FeastUnavailable, match=r"failed 3 times; last: ConnectError"):
        client.online_features({"card_id": [1]}, features=["v:f"])
    assert time.monotonic() - started >= 0.060  # the two backoffs, 20 + 40 ms


def test_columns_are_read_by_the_answers_own_names(server):
    url, script = server
    # Feast's answer lists features in its own order: the client indexes by metadata.feature_names.
    script.answer = {
        "metadata": {"feature_names": ["card_id", "card_stats__spend", "card_realtime__count"]},
        "results": [
            {"values": [7], "statuses": ["PRESENT"], "event_timestamps": ["1970-01-01T00:00:00Z"]},
            {"values": [None], "statuses": ["NOT_FOUND"], "event_timestamps": ["1970-01-01T00:00:00Z"]},
            {"values": [3], "statuses": ["PRESENT"], "event_timestamps": ["2026-11-30T00:00:01Z"]},
        ],
    }
    client = FeastClient.from_calls(FeastCalls(url=url, retries=0))
    columns = client.online_features(
        {"card_id": [7]}, features=["card_realtime:count", "card_stats:spend"], full_feature_names=True
    )
    assert columns["card_realtime__count"].values == [3]
    assert columns["card_stats__spend"].statuses == ["NOT_FOUND"]
    assert script.bodies[0]["features"] == ["card_realtime:count", "card_stats:spend"]


def test_a_request_logs_nothing_below_warning_even_with_the_root_logger_at_debug(server, caplog):
    url, script = server
    caplog.set_level(logging.DEBUG)
    client = FeastClient(url, timeout_s=2, retries=0, backoff_ms=1)
    client.push("src", {"card_id": [1]}, to="online")
    client.close()
    assert len(script.arrivals) == 1
    assert [r.getMessage() for r in caplog.records if r.levelno < logging.WARNING] == []


def test_failed_attempts_retries_and_answer_times_are_counted_for_the_metrics(server):
    url, script = server
    script.statuses = [503, 502]
    client = FeastClient(url, timeout_s=2, retries=3, backoff_ms=1)
    client.push("src", {"card_id": [1]}, to="online")
    client.push("src", {"card_id": [2]}, to="online")
    assert (client.stats.errors, client.stats.retried) == (2, 2)
    durations = client.stats.take_durations()
    assert len(durations) == 2 and all(0 < d < 2 for d in durations)
    assert client.stats.take_durations() == []
