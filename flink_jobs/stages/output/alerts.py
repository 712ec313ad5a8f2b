"""Rules to alerts: a prediction that one or more `[[rules]]` select goes to the alerts topic too."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pyflink.common import Types
from pyflink.datastream import OutputTag

from flink_jobs.config.pipeline_config import Rule

ALERTS = OutputTag("alerts", Types.STRING())


def fired_rules(rules: Sequence[Rule], score: float, amount: float) -> list[str]:
    return [rule.name for rule in rules if rule.fires(score, amount)]


def alert(prediction: dict[str, object], fired: list[str]) -> str:
    """The prediction plus the names of the rules that fired."""
    return json.dumps({**prediction, "rules": fired})
