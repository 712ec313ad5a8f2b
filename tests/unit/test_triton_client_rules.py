"""The Triton client's rules that need no server: lossless dtype conversion only, and a clear
error past the retry budget when nothing answers."""

from __future__ import annotations

import asyncio
import re
import time

import numpy as np
import pytest

from flink_jobs.clients.model_feeds import lossless
from flink_jobs.clients.triton_client import TritonClient, TritonUnavailable


def test_integers_become_floats_only_while_every_value_is_exact():
    counts = np.array([0, 3, 2**24], np.int64)
    np.testing.assert_array_equal(lossless(counts, np.dtype(np.float32), "n"), counts.astype(np.float32))
    with pytest.raises(ValueError, match="column 'n' is int64, the model's input is float32"):
        lossless(np.array([2**24 + 1], np.int64), np.dtype(np.float32), "n")


def test_a_narrowing_float_conversion_is_refused_and_a_widening_one_is_made():
    with pytest.raises(ValueError, match="converting would change values"):
        lossless(np.array([0.1], np.float64), np.dtype(np.float32), "amount")
    widened = lossless(np.array([0.5], np.float32), np.dtype(np.float64), "amount")
    assert widened.dtype == np.float64
    same = np.array([1.0], np.float32)
    assert lossless(same, np.dtype(np.float32), "amount") is same


def test_a_down_server_fails_clearly_after_the_retry_budget():
    async def run():
        client = TritonClient("127.0.0.1:1", "columns", timeout_s=1, retries=2, backoff_ms=50)
        try:
            await client.connect()
        finally:
            await client.close()

    started = time.monotonic()
    with pytest.raises(TritonUnavailable, match=re.escape("Triton at 127.0.0.1:1: model metadata failed 3 times")):
        asyncio.run(run())
    assert time.monotonic() - started >= 0.15  # the two backoffs, 50 + 100 ms
