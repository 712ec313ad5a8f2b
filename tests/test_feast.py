"""Feast: a tiny repository applied and materialized with the Feast CLI, read through the feature server."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import pytest

from rtai import paths
from tests.stack_helpers import isolated_stack, isolated_stack_toml

FEATURE_STORE_YAML = """project: tiny_test
provider: local
registry: data/registry.db
online_store:
  type: sqlite
  path: data/online.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""

DEFINITIONS = """
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64

card = Entity(name="card", join_keys=["card_id"], value_type=ValueType.INT64)
stats_source = FileSource(path="data/card_stats.parquet", timestamp_field="event_timestamp")
card_stats = FeatureView(
    name="card_stats",
    entities=[card],
    ttl=timedelta(days=30),
    schema=[Field(name="amount_mean_7d", dtype=Float64), Field(name="txn_count_7d", dtype=Int64)],
    source=stats_source,
)
card_service = FeatureService(name="card_service", features=[card_stats])
"""


def feast(repo, *args: str) -> str:
    result = subprocess.run(
        [str(paths.venv_bin("feast", "feast")), *args], cwd=repo, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"feast {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def tiny_feature_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("feast")
    repo = tmp / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(FEATURE_STORE_YAML)
    (repo / "definitions.py").write_text(DEFINITIONS)
    now = datetime.now(UTC).replace(microsecond=0)
    # Two snapshots per card: the later one must win after materialization.
    rows = []
    for card_id in range(1, 6):
        for age_days, factor in ((2, 1.0), (1, 2.0)):
            rows.append(
                {
                    "card_id": card_id,
                    "event_timestamp": now - timedelta(days=age_days),
                    "amount_mean_7d": card_id * 10.0 * factor,
                    "txn_count_7d": card_id * int(factor),
                }
            )
    pd.DataFrame(rows).to_parquet(repo / "data" / "card_stats.parquet")

    assert "Created feature view card_stats" in feast(repo, "apply")
    assert "card_stats" in feast(repo, "feature-views", "list")
    start, end = (now - timedelta(days=3)).isoformat(), (now + timedelta(minutes=1)).isoformat()
    feast(repo, "materialize", start, end)
    toml = isolated_stack_toml({"feast": {"feature_repo": str(repo)}})
    with isolated_stack(tmp, ["feast"], toml) as stack:
        yield stack


def test_feature_server_returns_the_materialized_values(tiny_feature_server):
    url = f"http://127.0.0.1:{tiny_feature_server.config.feast.port}/get-online-features"
    response = httpx.post(
        url,
        json={"feature_service": "card_service", "entities": {"card_id": [3, 5, 999]}},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    # Feast orders columns its own way: index them by name.
    columns = {name: result for name, result in zip(body["metadata"]["feature_names"], body["results"], strict=True)}
    assert columns["card_id"]["values"] == [3, 5, 999]
    assert columns["amount_mean_7d"]["values"] == [60.0, 100.0, None]
    assert columns["txn_count_7d"]["values"] == [6, 10, None]
    assert columns["amount_mean_7d"]["statuses"] == ["PRESENT", "PRESENT", "NOT_FOUND"]
