"""The daily rhythm of card use: how many transactions to expect in each hour."""

from __future__ import annotations

import numpy as np

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# Relative activity per hour of the day. The population is mostly European, so the UTC hour
# stands in for local time: quiet nights, a lunch peak, a higher evening peak.
WEEKDAY = np.array(
    [0.25, 0.15, 0.10, 0.08, 0.08, 0.15, 0.35, 0.70, 0.95, 1.00, 1.10, 1.35,
     1.70, 1.50, 1.10, 1.05, 1.15, 1.45, 1.75, 1.70, 1.40, 1.00, 0.65, 0.40]
)  # fmt: skip
# Weekends start later, spread shopping over the afternoon and stay up later.
WEEKEND = np.array(
    [0.40, 0.25, 0.15, 0.10, 0.08, 0.10, 0.15, 0.30, 0.55, 0.85, 1.20, 1.45,
     1.60, 1.60, 1.45, 1.40, 1.45, 1.50, 1.60, 1.65, 1.45, 1.10, 0.80, 0.55]
)  # fmt: skip
_WEEK_AVERAGE_DAY = (5 * WEEKDAY.sum() + 2 * WEEKEND.sum()) / 7


def expected_per_hour(first_hour_ms: int, hours: int, events_per_day: float) -> np.ndarray:
    """Expected transactions in each of `hours` hours from first_hour_ms; a week averages events_per_day a day."""
    starts = first_hour_ms + np.arange(hours, dtype=np.int64) * HOUR_MS
    hour_of_day = (starts // HOUR_MS) % 24
    weekend = (starts // DAY_MS + 3) % 7 >= 5  # 1970-01-01 was a Thursday; Monday is 0
    weight = np.where(weekend, WEEKEND[hour_of_day], WEEKDAY[hour_of_day])
    return events_per_day * weight / _WEEK_AVERAGE_DAY
