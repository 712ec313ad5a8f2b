"""The scoring API's card histories: the job's CardHistory, fed by the topic and by the API's own requests."""

from __future__ import annotations

from flink_jobs.events import Transaction
from flink_jobs.stages.features.card_windows import CardHistory
from rtai.serving.card_states import CardStates


def tx(event_id: str, card: int, time_ms: int, amount: float = 10.0) -> Transaction:
    return Transaction(event_id, time_ms, card, card, 1, "electronics", "DE", "DE", amount, "EUR", "pos")


def test_an_own_event_counts_once_though_it_comes_back_from_the_topic():
    states, reference = CardStates(max_cards=10), CardHistory()
    for i, event in enumerate([tx("a", 1, 1_000), tx("b", 1, 2_000), tx("c", 1, 3_000, 50.0)]):
        expected = reference.add(event.event_time_ms, event.amount, event.merchant_id)
        assert states.add(event, own=i == 2) == expected
    assert states.add(tx("c", 1, 3_000, 50.0), own=False) is None  # the API's own, read back: skipped
    assert states.add(tx("d", 1, 4_000), own=False) == reference.add(4_000, 10.0, 1)


def test_the_least_recently_used_cards_go_past_max_cards():
    states = CardStates(max_cards=2)
    for card in (1, 2, 1, 3):
        states.add(tx(f"e{card}", card, 1_000), own=False)
    assert list(states.histories) == [1, 3]
