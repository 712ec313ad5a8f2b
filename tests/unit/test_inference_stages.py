"""The inference job's pure stages, alone: the model's inputs assembled from an event and its
features, the prediction record, and rules to alerts."""

from __future__ import annotations

import json

import numpy as np

from flink_jobs.config.pipeline_config import Rule
from flink_jobs.events import parse
from flink_jobs.stages.enrich.enricher import Enriched
from flink_jobs.stages.inference.model_inputs import model_inputs
from flink_jobs.stages.inference.request_features import REQUEST_FEATURES
from flink_jobs.stages.output.alerts import RepeatedAlerts, alert, fired_rules
from flink_jobs.stages.output.predictions import BatchTimes, ModelInfo, Scored, prediction


def event(card_id: int, amount: float, channel: str, merchant_country: str) -> str:
    return json.dumps(
        {
            "event_id": f"e{card_id}",
            "event_time": "2026-11-30T10:00:00.250Z",
            "card_id": card_id,
            "customer_id": 1,
            "merchant_id": 9,
            "merchant_category": "grocery",
            "merchant_country": merchant_country,
            "card_country": "DE",
            "amount": amount,
            "currency": "EUR",
            "channel": channel,
        }
    )


def enriched(count: float, missing: bool = False) -> Enriched:
    return Enriched({"txn_count_1m": count, "spend_30d": count * 10}, missing, {"card_realtime": "t"}, ("card_stats",))


def test_model_inputs_are_float32_columns_in_batch_order():
    events = [parse(event(1, 12.5, "pos", "DE")), parse(event(2, 99.0, "ecom", "FR"))]
    columns = model_inputs(events, [enriched(3), enriched(0, missing=True)])
    assert set(columns) == {*REQUEST_FEATURES, "txn_count_1m", "spend_30d"}
    assert all(column.dtype == np.float32 for column in columns.values())
    np.testing.assert_array_equal(columns["amount"], [12.5, 99.0])
    np.testing.assert_array_equal(columns["is_ecom"], [0.0, 1.0])
    np.testing.assert_array_equal(columns["is_foreign"], [0.0, 1.0])
    np.testing.assert_array_equal(columns["txn_count_1m"], [3.0, 0.0])


def test_the_prediction_record_carries_the_event_the_model_and_the_batch_times():
    transaction = parse(event(7, 250.0, "ecom", "US"))
    times = BatchTimes(started=1_764_496_800.010, enriched=1_764_496_800.016, scored=1_764_496_800.019)
    record = prediction(
        transaction,
        1_764_496_800_000.0,
        enriched(2, missing=True),
        Scored(0.95, "3", 3.0),
        ModelInfo("m", 0.9),
        12,
        times,
    )
    assert record["event_id"] == "e7"
    assert (record["score"], record["label"], record["model"], record["model_version"]) == (0.95, True, "m", "3")
    assert record["features_missing"] is True
    assert record["cached_views"] == ["card_stats"]
    assert record["event_time"] == "2026-11-30T10:00:00.250+00:00"
    assert (record["wait_ms"], record["enrich_ms"], record["infer_ms"]) == (10.0, 6.0, 3.0)
    assert record["batch_size"] == 12
    json.dumps(record)  # every value is JSON


def test_an_alert_names_the_rules_that_fired():
    rules = (
        Rule("high_score", 0.9),
        Rule("high_value", 0.5, min_amount=1_000.0),
        Rule("card_velocity", 0.0, min_events_per_minute=10),
    )
    assert fired_rules(rules, 0.95, 50.0, 1) == ["high_score"]
    assert fired_rules(rules, 0.1, 5.0, 12) == ["card_velocity"]
    assert fired_rules(rules, 0.6, 5_000.0, 1) == ["high_value"]
    assert fired_rules(rules, 0.4, 5_000.0, 1) == []
    assert json.loads(alert({"event_id": "e1", "score": 0.95}, ["high_score"])) == {
        "event_id": "e1",
        "score": 0.95,
        "rules": ["high_score"],
    }


def test_repeated_alerts_come_once_per_interval_of_event_time_per_card_with_the_count_held_back():
    repeated = RepeatedAlerts(every_ms=60_000, cards=2)
    assert repeated.due(1, 0) == 0
    assert [repeated.due(1, t) for t in (1, 30_000, 59_999)] == [None, None, None]
    assert repeated.due(2, 10) == 0  # another card: its own interval
    assert repeated.due(1, 60_000) == 3
    assert repeated.due(1, 60_001) is None
    assert repeated.due(1, 5) is None  # late in event time: inside the last alert's interval
    repeated.due(3, 0)  # a third card: the least recently alerted (2) is forgotten
    assert repeated.due(2, 20) == 0


def test_repeated_alerts_with_no_interval_alert_on_every_transaction():
    repeated = RepeatedAlerts(every_ms=0, cards=10)
    assert [repeated.due(1, t) for t in (0, 1, 2)] == [0, 0, 0]
