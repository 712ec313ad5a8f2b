"""The core's updates to an edge site (rtai.edge): a model version is served only once it is whole,
scores and takes the served version's inputs; feature rows are written only when they match the
site's FeatureService; whatever fails is rejected with its reason and changes nothing."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta

import pytest

from flink_jobs.clients.feast_client import FeastClient
from flink_jobs.clients.model_repository import served_versions
from flink_jobs.config.pipeline_config import CachedView
from flink_jobs.stages.enrich.enricher import Enricher
from rtai.edge import feature_update, model_update
from rtai.edge.commands import entity_ids
from rtai.edge.feature_update import FeatureRow, FeatureUpdate
from rtai.edge.update_rejected import UpdateRejected
from tests.json_server import serving
from tests.onnx_models import model_repository, write_columns_model

COLUMNS = ["amount", "hour", "txn_count_1h"]


def served(repo) -> list[int]:
    return served_versions((repo / "fraud_mlp" / "config.pbtxt").read_text())


def core_version(tmp_path, version: int, columns: list[str] = COLUMNS) -> model_update.ModelUpdate:
    core = model_repository(tmp_path / "core", columns, {version: None}, served=version)
    return model_update.read_version(core, "fraud_mlp", version)


def received(update: model_update.ModelUpdate, data: bytes | None = None) -> model_update.ModelUpdate:
    """The update as a site reads it off the topic (its properties, these bytes)."""
    return model_update.from_message(update.properties(), update.onnx if data is None else data)


def test_a_new_version_is_checked_written_and_served(tmp_path):
    site = model_repository(tmp_path / "site", COLUMNS, {1: None}, served=1)
    update = core_version(tmp_path, 2)
    said = model_update.install(received(update), site, "fraud_mlp")
    assert "served (was 1)" in said
    assert served(site) == [2]
    assert (site / "fraud_mlp" / "2" / "model.onnx").read_bytes() == update.onnx
    assert "served already" in model_update.install(received(update), site, "fraud_mlp")
    assert not list((site / "fraud_mlp").glob(".*partial"))


def test_an_older_version_sent_again_is_served_again(tmp_path):
    site = model_repository(tmp_path / "site", COLUMNS, {1: None}, served=1)
    model_update.install(received(core_version(tmp_path, 2)), site, "fraud_mlp")
    first = model_update.ModelUpdate("fraud_mlp", 1, (site / "fraud_mlp" / "1" / "model.onnx").read_bytes())
    assert "served (was 2)" in model_update.install(received(first), site, "fraud_mlp")
    assert served(site) == [1]


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda u: (u.properties(), u.onnx[:-7]), "SHA-256"),
        (lambda u: ({**u.properties(), "version": "two"}, u.onnx), "without a valid"),
        (lambda u: ({k: v for k, v in u.properties().items() if k != "sha256"}, u.onnx), "without a valid"),
    ],
)
def test_an_update_damaged_on_the_way_is_rejected(tmp_path, damage, reason):
    properties, data = damage(core_version(tmp_path, 2))
    with pytest.raises(UpdateRejected, match=reason):
        model_update.from_message(properties, data)


def test_a_version_that_cannot_score_or_takes_other_inputs_is_not_served(tmp_path):
    site = model_repository(tmp_path / "site", COLUMNS, {1: None}, served=1)
    broken = model_update.ModelUpdate("fraud_mlp", 2, b"not an onnx model")
    with pytest.raises(UpdateRejected, match="onnxruntime cannot score"):
        model_update.install(received(broken), site, "fraud_mlp")
    other_inputs = core_version(tmp_path, 3, ["amount", "hour"])
    with pytest.raises(UpdateRejected, match=r"takes .* the served version 1"):
        model_update.install(received(other_inputs), site, "fraud_mlp")
    other_model = model_update.ModelUpdate("churn", 4, core_version(tmp_path / "c", 4).onnx)
    with pytest.raises(UpdateRejected, match="not the pipeline's"):
        model_update.install(received(other_model), site, "fraud_mlp")
    assert served(site) == [1]
    assert sorted(p.name for p in (site / "fraud_mlp").iterdir()) == ["1", "config.pbtxt"]


def test_a_version_the_site_has_with_other_bytes_is_rejected(tmp_path):
    site = model_repository(tmp_path / "site", COLUMNS, {1: None, 2: None}, served=1)
    write_columns_model(tmp_path / "other.onnx", COLUMNS, seed=9)
    other = model_update.ModelUpdate("fraud_mlp", 2, (tmp_path / "other.onnx").read_bytes())
    with pytest.raises(UpdateRejected, match="other bytes"):
        model_update.install(received(other), site, "fraud_mlp")
    assert served(site) == [1]


VIEWS = (CachedView("card_stats", "card_id"), CachedView("merchant_stats", "merchant_id"))
CARD_FEATURES = ["card_amount_mean_30d", "card_txn_count_30d"]


def site_feast(written: list[dict]):
    """A feature server that serves card_stats and merchant_stats (nothing found) and keeps what is written."""

    def answer(method: str, path: str, body: bytes):
        request = json.loads(body)
        if path == "/write-to-online-store":
            written.append(request)
            return 200, None
        rows = len(request["entities"]["card_id"])
        names = [f"card_stats__{n}" for n in CARD_FEATURES] + ["merchant_stats__merchant_txn_count_7d"]
        results = [{"values": [None] * rows, "statuses": ["NOT_FOUND"] * rows, "event_timestamps": [""] * rows}]
        return 200, {"metadata": {"feature_names": names}, "results": results * len(names)}

    return serving(answer)


def row(key: int, stamp: datetime, **values: object) -> FeatureRow:
    return FeatureRow(key, stamp.isoformat(), {"card_amount_mean_30d": 12.5, "card_txn_count_30d": 3.0, **values})


def test_rows_that_match_the_site_are_written_and_the_rest_counted_by_reason():
    now = datetime.now(UTC)
    rows = (
        row(1, now - timedelta(hours=1)),
        row(2, now, card_amount_mean_30d=float("nan")),
        row(3, now + timedelta(hours=1)),
        FeatureRow(4, now.isoformat(), {"card_amount_mean_30d": 1.0}),
        row(5, now, card_txn_count_30d=True),
        FeatureRow(6, "yesterday", {"card_amount_mean_30d": 1.0, "card_txn_count_30d": 1.0}),
    )
    written: list[dict] = []
    with site_feast(written) as url:
        site = Enricher(FeastClient(url, timeout_s=2, retries=0, backoff_ms=1), "fraud_scoring_v1")
        result = feature_update.write(FeatureUpdate("card_stats", "card_id", rows), site, VIEWS, 60_000)
    assert result.rows == 1
    assert sum(result.rejected.values()) == 5 and len(result.rejected) == 4
    assert [w["feature_view_name"] for w in written] == ["card_stats"]
    assert written[0]["df"] == {
        "card_id": [1],
        "card_amount_mean_30d": [12.5],
        "card_txn_count_30d": [3.0],
        "event_timestamp": [rows[0].event_timestamp],
    }


def test_a_view_the_pipeline_does_not_cache_by_that_key_is_rejected_whole():
    written: list[dict] = []
    update = FeatureUpdate("card_stats", "merchant_id", (row(1, datetime.now(UTC)),))
    with site_feast(written) as url, pytest.raises(UpdateRejected, match="not one of the pipeline's cached views"):
        site = Enricher(FeastClient(url, timeout_s=2, retries=0, backoff_ms=1), "fraud_scoring_v1")
        feature_update.write(update, site, VIEWS, 60_000)
    assert written == []


@pytest.mark.parametrize("data", [b"{", b"[]", b'{"view": "card_stats", "join_key": "card_id", "rows": [{}]}'])
def test_a_feature_update_that_is_not_one_is_rejected(data):
    with pytest.raises(UpdateRejected, match="not one"):
        feature_update.from_message(data)


def test_an_update_survives_its_trip_as_bytes():
    update = FeatureUpdate("card_stats", "card_id", (row(7, datetime.now(UTC)),))
    assert feature_update.from_message(update.to_bytes()) == update


def test_entity_ids_take_ranges_and_lists():
    assert entity_ids("1-3,9") == [1, 2, 3, 9]
    with pytest.raises(argparse.ArgumentTypeError, match="1-400,17"):
        entity_ids("1-x")
