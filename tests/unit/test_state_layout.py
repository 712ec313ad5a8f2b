"""The keyed state's layout: values round-trip, layout 2 as written today stays readable (the text
below is what this version's checkpoints hold: a later layout must still decode them), layout 1
(the unbounded history of earlier versions) is upgraded, fields are read by name, and state this
code cannot read fails with a message that says why."""

from __future__ import annotations

import pickle

import pytest

from flink_jobs.events import Transaction
from flink_jobs.stages.features.card_windows import CardHistory
from flink_jobs.state_layout import (
    JSON_ENTRIES,
    SCORING_ENTRIES,
    StateLayoutError,
    decode_history,
    decode_transactions,
    encode_history,
    encode_transactions,
)

EVENT = Transaction("e-1", 1_790_000_000_000, 42, 7, 9, "grocery", "DE", "DE", 12.5, "EUR", "pos")
EVENT_FIELDS = (
    '{"event_id":"e-1","event_time_ms":1790000000000,"card_id":42,"customer_id":7,"merchant_id":9,'
    '"merchant_category":"grocery","merchant_country":"DE","card_country":"DE","amount":12.5,'
    '"currency":"EUR","channel":"pos","is_fraud":null,"fraud_pattern":null}'
)
# Layout 1 (the versions before bounded histories), byte for byte.
HISTORY_V1 = (
    '{"layout":1,"recent":[[1790000000000,12.5,9],[1790000060000,3.0,4]],"amount_count":2,'
    '"amount_sum":15.5,"last_time_ms":1790000060000}'
)
TRANSACTION_V1 = '{"layout":1,"event":' + EVENT_FIELDS + "}"
SCORING_ENTRY_V1 = (
    '{"layout":1,"entry":{"event":' + EVENT_FIELDS + ',"features":{"txn_count_1m":1},"received_ms":1790000000001.5}}'
)
# Layout 2, byte for byte: the same card as HISTORY_V1.
HISTORY_V2 = (
    '{"layout":2,"buckets":{"1m":[[1790000060,1,3.0]],"10m":[[179000000,1,12.5],[179000006,1,3.0]],'
    '"1h":[[29833333,1,12.5],[29833334,1,3.0]]},"merchants":[[9,1790000000000],[4,1790000060000]],'
    '"amount_count":2,"amount_sum":15.5,"last_time_ms":1790000060000,"newest_ms":1790000060000}'
)


def two_transactions() -> CardHistory:
    history = CardHistory()
    history.add(1_790_000_000_000, 12.5, 9)
    history.add(1_790_000_060_000, 3.0, 4)
    return history


def test_layout_2_as_written_today_is_what_checkpoints_hold():
    assert encode_history(two_transactions()) == HISTORY_V2
    assert encode_transactions([EVENT, EVENT]) == '{"layout":2,"events":[' + EVENT_FIELDS + "," + EVENT_FIELDS + "]}"
    assert SCORING_ENTRIES.encode((EVENT, {"txn_count_1m": 1}, 1_790_000_000_001.5)) == SCORING_ENTRY_V1.replace(
        '"layout":1', '"layout":2'
    )
    assert decode_history(HISTORY_V2) == two_transactions()


def test_layout_1_is_upgraded_and_goes_on_computing_what_the_bounded_history_computes():
    upgraded = decode_history(HISTORY_V1)
    assert upgraded == two_transactions()
    assert upgraded.add(1_790_000_090_000, 6.0, 9) == two_transactions().add(1_790_000_090_000, 6.0, 9)
    assert decode_transactions(TRANSACTION_V1) == [EVENT]
    assert SCORING_ENTRIES.decode(SCORING_ENTRY_V1) == (EVENT, {"txn_count_1m": 1}, 1_790_000_000_001.5)


def test_the_upgrade_keeps_the_running_statistics_of_transactions_older_than_the_windows():
    """A layout-1 history holds only the last hour, but its mean counts every transaction."""
    old = HISTORY_V1.replace('"amount_count":2,"amount_sum":15.5', '"amount_count":40,"amount_sum":4000.0')
    upgraded = decode_history(old)
    assert (upgraded.amount_count, upgraded.amount_sum) == (40, 4000.0)
    assert upgraded.add(1_790_000_090_000, 100.0, 9)["amount_to_mean_ratio"] == 1.0


def test_batches_in_flight_and_plain_entries_round_trip():
    entries = [(EVENT, None, 1.0), (EVENT, {"txn_count_1h": 3}, 2.0)]
    assert SCORING_ENTRIES.decode_batch(SCORING_ENTRIES.encode_batch(entries)) == entries
    row = {"card_id": 42, "event_timestamp": "2026-11-30T10:00:00.000Z", "txn_count_1h": 3}
    assert JSON_ENTRIES.decode(JSON_ENTRIES.encode(row)) == row
    assert JSON_ENTRIES.decode_batch(JSON_ENTRIES.encode_batch([row, row])) == [row, row]


def test_fields_are_read_by_name_an_unknown_one_ignored_a_missing_optional_one_defaulted():
    newer = TRANSACTION_V1.replace('"channel":"pos"', '"channel":"pos","device_id":"d-9"')
    assert decode_transactions(newer) == [EVENT]
    older = TRANSACTION_V1.replace(',"is_fraud":null,"fraud_pattern":null', "")
    assert decode_transactions(older) == [EVENT]


def test_a_transaction_without_a_required_field_names_it():
    with pytest.raises(StateLayoutError, match="lacks card_id"):
        decode_transactions(TRANSACTION_V1.replace('"card_id":42,', ""))


def test_state_of_a_newer_layout_fails_with_both_layout_numbers():
    with pytest.raises(StateLayoutError, match="written with layout 3; this job reads layouts up to 2"):
        decode_history(HISTORY_V2.replace('"layout":2', '"layout":3'))


def test_pickled_state_of_earlier_versions_fails_with_a_clear_message():
    with pytest.raises(StateLayoutError, match="no known layout"):
        decode_history(pickle.dumps(CardHistory()).decode("latin-1"))
