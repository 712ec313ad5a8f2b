"""docs/howto.md's worked examples that need the real servers, run as written there."""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd

from rtai import paths
from rtai.features.batch_stats import CARD_STATS, MERCHANT_STATS
from tests.onnx_models import write_columns_model
from tests.stack_helpers import (
    MODEL_COLUMNS,
    cli,
    copy_of_feature_repo,
    isolated_env,
    isolated_stack,
    isolated_stack_toml,
    served_model_toml,
)

HOWTO = paths.PROJECT_ROOT / "docs" / "howto.md"


def console_block(section: str) -> list[tuple[list[str], list[str]]]:
    """The section's ```console block as (command words after `rtai`, the lines it prints)."""
    text = HOWTO.read_text().split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```console\n(.*?)```", text, re.S).group(1)
    steps: list[tuple[list[str], list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            words = shlex.split(line[2:])
            assert words[0] == "rtai", line
            steps.append((words[1:], []))
        else:
            steps[-1][1].append(line)
    return steps


def shown(line: str, printed: str, repository: str) -> bool:
    """The doc's line is in what was printed: the repository where it says triton_repo, and any
    difference after 'at most' (onnxruntime's and Triton's float sums)."""
    expected = line.replace("triton_repo", repository).split("at most")[0]
    return expected in printed


def test_the_howto_model_commands_run_as_shown(tmp_path):
    toml = served_model_toml(tmp_path, MODEL_COLUMNS, seed=1)  # version 1 of fraud_mlp, as a stack has it
    write_columns_model(tmp_path / "gbm.onnx", MODEL_COLUMNS, seed=2)
    env = isolated_env(tmp_path, toml)
    repository = str(tmp_path / "tr")
    with isolated_stack(tmp_path, ["triton"], toml):
        for words, printed in console_block("Add a model"):
            words = [str(tmp_path / word) if word == "gbm.onnx" else word for word in words]
            result = cli(*words, env=env)
            assert result.returncode == 0, (words, result.stderr)
            for line in printed:
                assert shown(line, result.stdout, repository), (line, result.stdout)


def python_blocks(section: str) -> list[str]:
    text = HOWTO.read_text().split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_the_howto_feature_view_is_applied_and_served(tmp_path):
    view, service = python_blocks("Add a feature view")
    repo = copy_of_feature_repo(tmp_path)
    (repo / "merchant_risk.py").write_text(view)
    services = repo / "feature_services.py"
    services.write_text(services.read_text() + "\n" + service)
    data = repo / "data"
    data.mkdir()
    stamp = pd.Timestamp(datetime.now(UTC) - timedelta(hours=1))
    pd.DataFrame({"merchant_id": [1, 2], "event_timestamp": stamp, "merchant_risk_score": [0.1, 0.8]}).to_parquet(
        data / "merchant_risk.parquet"
    )
    # The views the repository had before need tables to materialize too.
    pd.DataFrame({"card_id": [7], "event_timestamp": stamp} | {name: 1.0 for name in CARD_STATS}).to_parquet(
        data / "card_stats.parquet"
    )
    pd.DataFrame({"merchant_id": [1], "event_timestamp": stamp} | {name: 1.0 for name in MERCHANT_STATS}).to_parquet(
        data / "merchant_stats.parquet"
    )
    toml = isolated_stack_toml({"feast": {"feature_repo": str(repo)}})
    env = isolated_env(tmp_path, toml)
    for words, _ in console_block("Add a feature view"):
        result = cli(*words, env=env)
        assert result.returncode == 0, (words, result.stderr)
    with isolated_stack(tmp_path, ["feast"], toml) as stack:
        answer = httpx.post(
            f"{stack.config.feast_url}/get-online-features",
            json={"feature_service": "fraud_scoring_v2", "entities": {"card_id": [7, 7], "merchant_id": [2, 3]}},
            timeout=30,
        )
    assert answer.status_code == 200, answer.text
    columns = dict(zip(answer.json()["metadata"]["feature_names"], answer.json()["results"], strict=True))
    assert columns["merchant_risk_score"]["values"] == [0.8, None]
    assert columns["merchant_risk_score"]["statuses"] == ["PRESENT", "NOT_FOUND"]
    assert columns["card_txn_count_30d"]["values"] == [1, 1]
