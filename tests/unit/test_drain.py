"""The drain rate from the outputs' publish times: the window from the output at 20 % of the
backlog to the one at 90 %, whatever order they were read in."""

from __future__ import annotations

import random

from rtai.benchmarks.drain import rate_from_publish_times


def test_the_rate_is_taken_between_the_20_and_90_percent_outputs_in_publish_order():
    # 100 outputs at once, then 900 published 2 ms apart: the window runs from the 200th output
    # (10,200 ms) to the 900th (11,598 ms): 700 outputs in 1.398 s.
    times = [0] * 100 + [10_000 + 2 * i for i in range(900)]
    random.Random(3).shuffle(times)  # a reader may receive them in any order
    figures = rate_from_publish_times(times, 1_000)
    assert figures == {"window_s": 1.4, "events_per_s": 501}
