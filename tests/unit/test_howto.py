"""docs/howto.md's worked examples, run as written there."""

from __future__ import annotations

import re

import pytest

from flink_jobs.config import pipeline_config
from flink_jobs.config.typed_config import ConfigError
from flink_jobs.stages.output.alerts import fired_rules
from rtai import paths

HOWTO = paths.PROJECT_ROOT / "docs" / "howto.md"


def _toml_block(section: str) -> str:
    text = HOWTO.read_text().split(f"## {section}\n", 1)[1]
    return re.search(r"```toml\n(.*?)```", text, re.S).group(1)


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
