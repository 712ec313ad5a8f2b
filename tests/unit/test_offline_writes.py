"""The feature job's offline writer against an HTTP server on loopback (a slow offline store):
rows queued while a write is under way go in the next one, every row is written in order and
none twice, max_rows bounds a request, and a write that fails past the retries fails the caller."""

from __future__ import annotations

import json
import threading
import time

import pytest

from flink_jobs.clients.feast_client import FeastClient
from flink_jobs.stages.features.card_windows import FEATURE_NAMES
from flink_jobs.stages.features.offline_writes import OfflineWrites
from tests.json_server import serving

WRITE_S = 0.2  # each offline write, as a file store's rewrite


def row(card: int) -> dict:
    return {"card_id": card, "event_timestamp": "2026-12-08T00:00:00.000+00:00"} | dict.fromkeys(FEATURE_NAMES, 0.0)


@pytest.fixture
def store():
    """The requests the server took, and its URL; each answered after WRITE_S."""
    requests: list[dict] = []
    lock = threading.Lock()

    def answer(method: str, path: str, body: bytes) -> tuple[int, object]:
        time.sleep(WRITE_S)
        with lock:
            requests.append(json.loads(body))
        return 200, {}

    with serving(answer) as url:
        yield requests, url


def test_rows_queued_during_a_write_go_in_the_next_one_and_each_is_written_once_in_order(store):
    requests, url = store
    writes = OfflineWrites(FeastClient(url, timeout_s=5, retries=0, backoff_ms=1), "card_realtime_push", 25)
    try:
        for call in range(10):  # ten merged batches in 0.1 s, while the first write takes 0.2 s
            writes.add([row(call * 10 + i) for i in range(10)])
            time.sleep(0.01)
        writes.wait_until_written()
        done = writes.take_requests()
    finally:
        writes.close()
    assert {request["to"] for request in requests} == {"offline"}
    assert {request["push_source_name"] for request in requests} == {"card_realtime_push"}
    cards = [card for request in requests for card in request["df"]["card_id"]]
    assert cards == list(range(100))
    assert max(len(request["df"]["card_id"]) for request in requests) <= 25
    assert done == len(requests) < 10  # coalesced: fewer writes than batches


def test_a_write_that_fails_past_the_retries_fails_the_next_call():
    with serving(lambda method, path, body: (503, {"detail": "store down"})) as url:
        writes = OfflineWrites(FeastClient(url, timeout_s=2, retries=1, backoff_ms=1), "card_realtime_push", 100)
        try:
            writes.add([row(1)])
            with pytest.raises(RuntimeError, match="offline store failed"):
                writes.wait_until_written()
            with pytest.raises(RuntimeError, match="offline store failed"):
                writes.add([row(2)])
        finally:
            writes.close()
