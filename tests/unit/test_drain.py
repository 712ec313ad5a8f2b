"""The drain rate from the outputs' publish times: the window from the output at 20 % of the
backlog to the one at 90 %, whatever order they were read in; a window under 30 s flagged."""

from __future__ import annotations

import random

from rtai.benchmarks.drain import rate_from_publish_times, window_note


def test_the_rate_is_taken_between_the_20_and_90_percent_outputs_in_publish_order():
    # 100 outputs at once, then 900 published 2 ms apart: the window runs from the 200th output
    # (10,200 ms) to the 900th (11,598 ms): 700 outputs in 1.398 s.
    times = [0] * 100 + [10_000 + 2 * i for i in range(900)]
    random.Random(3).shuffle(times)  # a reader may receive them in any order
    figures = rate_from_publish_times(times, 1_000)
    assert figures == {"window_s": 1.4, "events_per_s": 501, "short_window": True}
    assert "too short to trust" in window_note(figures)


def test_a_window_of_30_s_or_more_is_not_flagged():
    # 1,000 outputs 50 ms apart: the window from the 200th (10 s) to the 900th (44.95 s).
    figures = rate_from_publish_times([50 * i for i in range(1_000)], 1_000)
    assert figures == {"window_s": 35.0, "events_per_s": 20, "short_window": False}
    assert window_note(figures) == " over 35.0 s"
