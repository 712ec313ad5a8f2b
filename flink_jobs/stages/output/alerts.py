"""Rules to alerts: a prediction that one or more `[[rules]]` select (score, amount, the card's
velocity) goes to the alerts topic too."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
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
