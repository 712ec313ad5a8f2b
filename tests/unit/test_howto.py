"""docs/howto.md's worked examples, run as written there."""

from __future__ import annotations

import json
import re

import pytest

from flink_jobs.config import pipeline_config
from flink_jobs.config.typed_config import ConfigError
from flink_jobs.events import parse
from flink_jobs.stages.input.parse import DEAD_LETTERS
from flink_jobs.stages.output.alerts import fired_rules
from rtai import paths
from tests.card_transactions import transaction

HOWTO = paths.PROJECT_ROOT / "docs" / "howto.md"


def _blocks(section: str, language: str) -> list[str]:
    text = HOWTO.read_text().split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def _toml_block(section: str) -> str:
    return _blocks(section, "toml")[0]


def test_the_howto_rule_loads_and_fires_as_described(tmp_path):
    block = _toml_block("Add a rule")
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text(paths.DEFAULT_PIPELINE.read_text() + "\n" + block)
    rules = pipeline_config.load(pipeline).rules
    assert rules[-1].name == "large_with_middling_score"
    assert "large_with_middling_score" in fired_rules(rules, 0.45, 3000.0, 1)
    assert "large_with_middling_score" not in fired_rules(rules, 0.45, 2000.0, 1)
    assert "large_with_middling_score" not in fired_rules(rules, 0.3, 3000.0, 1)
    pipeline.write_text(paths.DEFAULT_PIPELINE.read_text() + "\n" + block.replace("0.4", "1.4"))
    with pytest.raises(ConfigError, match=rf"rules\[{len(rules) - 1}\]\.min_score"):
        pipeline_config.load(pipeline)


def test_the_howto_stage_dead_letters_test_cards_and_passes_the_rest():
    module, wiring = _blocks("Add a stage", "python")
    namespace: dict[str, object] = {"__name__": "test_cards"}
    exec(compile(module, "flink_jobs/stages/input/test_cards.py", "exec"), namespace)  # the doc's module as written
    stage = namespace["DropTestCards"]([4242], "transactions", "feature-job")
    probe, customer = (parse(json.dumps(transaction(card, 1, "howto"))) for card in (4242, 7))
    [(tag, letter)] = list(stage.process_element(probe, None))
    assert tag is DEAD_LETTERS
    assert json.loads(letter)["reason"] == "card 4242 is a test card"
    assert json.loads(json.loads(letter)["payload"])["event_id"] == probe.event_id
    assert list(stage.process_element(customer, None)) == [customer]
    # The wiring keeps the parse stage's dead letters as well as the new stage's.
    assert "parsed.get_side_output(DEAD_LETTERS)" in wiring and "kept.get_side_output(DEAD_LETTERS)" in wiring
