"""The keyed state's layout: values round-trip, layout 1 as written today stays readable (the text
below is what this version's checkpoints hold: a later layout must still decode them), fields
are read by name, and state this code cannot read fails with a message that says why."""

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
    decode_transaction,
    encode_history,
    encode_transaction,
)

EVENT = Transaction("e-1", 1_790_000_000_000, 42, 7, 9, "grocery", "DE", "DE", 12.5, "EUR", "pos")
EVENT_FIELDS = (
    '{"event_id":"e-1","event_time_ms":1790000000000,"card_id":42,"customer_id":7,"merchant_id":9,'
    '"merchant_category":"grocery","merchant_country":"DE","card_country":"DE","amount":12.5,'
    '"currency":"EUR","channel":"pos","is_fraud":null,"fraud_pattern":null}'
)
# Layout 1, byte for byte.
HISTORY_V1 = (
    '{"layout":1,"recent":[[1790000000000,12.5,9],[1790000060000,3.0,4]],"amount_count":2,'
    '"amount_sum":15.5,"last_time_ms":1790000060000}'
)
TRANSACTION_V1 = '{"layout":1,"event":' + EVENT_FIELDS + "}"
SCORING_ENTRY_V1 = (
    '{"layout":1,"entry":{"event":' + EVENT_FIELDS + ',"features":{"txn_count_1m":1},"received_ms":1790000000001.5}}'
)


def test_layout_1_as_written_today_is_what_checkpoints_hold():
    history = CardHistory([(1_790_000_000_000, 12.5, 9), (1_790_000_060_000, 3.0, 4)], 2, 15.5, 1_790_000_060_000)
    assert encode_history(history) == HISTORY_V1
    assert encode_transaction(EVENT) == TRANSACTION_V1
    assert SCORING_ENTRIES.encode((EVENT, {"txn_count_1m": 1}, 1_790_000_000_001.5)) == SCORING_ENTRY_V1


def test_layout_1_decodes_to_the_same_values_and_goes_on_computing_the_same_features():
    history = decode_history(HISTORY_V1)
    assert history == CardHistory(
        [(1_790_000_000_000, 12.5, 9), (1_790_000_060_000, 3.0, 4)], 2, 15.5, 1_790_000_060_000
    )
    assert history.add(1_790_000_090_000, 6.0, 9)["txn_count_1m"] == 2
    assert decode_transaction(TRANSACTION_V1) == EVENT
    assert SCORING_ENTRIES.decode(SCORING_ENTRY_V1) == (EVENT, {"txn_count_1m": 1}, 1_790_000_000_001.5)


def test_batches_in_flight_and_plain_entries_round_trip():
    entries = [(EVENT, None, 1.0), (EVENT, {"txn_count_1h": 3}, 2.0)]
    assert SCORING_ENTRIES.decode_batch(SCORING_ENTRIES.encode_batch(entries)) == entries
    row = {"card_id": 42, "event_timestamp": "2026-11-30T10:00:00.000Z", "txn_count_1h": 3}
    assert JSON_ENTRIES.decode(JSON_ENTRIES.encode(row)) == row
    assert JSON_ENTRIES.decode_batch(JSON_ENTRIES.encode_batch([row, row])) == [row, row]


def test_fields_are_read_by_name_an_unknown_one_ignored_a_missing_optional_one_defaulted():
    newer = TRANSACTION_V1.replace('"channel":"pos"', '"channel":"pos","device_id":"d-9"')
    assert decode_transaction(newer) == EVENT
    older = TRANSACTION_V1.replace(',"is_fraud":null,"fraud_pattern":null', "")
    assert decode_transaction(older) == EVENT


def test_a_transaction_without_a_required_field_names_it():
    with pytest.raises(StateLayoutError, match="lacks card_id"):
        decode_transaction(TRANSACTION_V1.replace('"card_id":42,', ""))


def test_state_of_a_newer_layout_fails_with_both_layout_numbers():
    with pytest.raises(StateLayoutError, match="written with layout 2; this job reads layouts up to 1"):
        decode_history(HISTORY_V1.replace('"layout":1', '"layout":2'))


def test_pickled_state_of_earlier_versions_fails_with_a_clear_message():
    with pytest.raises(StateLayoutError, match="no known layout"):
        decode_history(pickle.dumps(CardHistory()).decode("latin-1"))
