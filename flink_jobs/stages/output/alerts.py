"""Rules to alerts: a prediction that one or more `[[rules]]` select (score, amount, the card's
velocity) goes to the alerts topic too."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from cachetools import LRUCache
from pyflink.common import Types
from pyflink.datastream import OutputTag

from flink_jobs.config.pipeline_config import Rule

ALERTS = OutputTag("alerts", Types.STRING())


def fired_rules(rules: Sequence[Rule], score: float, amount: float, events_per_minute: float) -> list[str]:
    """`events_per_minute`: the card's transactions in its last minute (txn_count_1m)."""
    return [rule.name for rule in rules if rule.fires(score, amount, events_per_minute)]


def alert(prediction: dict[str, object], fired: list[str]) -> str:
    """The prediction plus the names of the rules that fired."""
    return orjson.dumps({**prediction, "rules": fired}).decode()


class RepeatedAlerts:
    """Past its rate bound a card's every transaction would fire the velocity rule: one alert per
    card per `every_ms` of event time instead, carrying `alerts_held_back`, the card's transactions
    the rules selected since its previous alert that got none. Event time, so a replay from a
    checkpoint holds back the same ones; in memory, bounded to `cards` (least recently seen
    forgotten), so after a restart a card's next alert comes at once. every_ms 0: every one."""

    def __init__(self, every_ms: float, cards: int) -> None:
        self.every_ms = every_ms
        self.last: LRUCache[int, tuple[float, int]] = LRUCache(maxsize=cards)  # card -> (alerted at, held back since)

    def due(self, card: int, event_time_ms: float) -> int | None:
        """None to hold this one back; else the card's alerts held back since its previous one."""
        if not self.every_ms:
            return 0
        last = self.last.get(card)
        if last is not None and event_time_ms < last[0] + self.every_ms:
            self.last[card] = (last[0], last[1] + 1)
            return None
        self.last[card] = (event_time_ms, 0)
        return last[1] if last else 0
