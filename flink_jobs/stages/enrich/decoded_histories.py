"""The latest cards' decoded histories, kept in memory by an operator that alone writes their
keyed state: the memory copy is what it last wrote, and a restore starts it empty. A busy card
then pays a state write per update, not a read and a decode too. A card with no state starts
from its seed (history_seed.py), if the job has one."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from flink_jobs.stages.features.card_windows import CardHistory
from flink_jobs.stages.features.history_seed import HistorySeed, starting_history
from flink_jobs.state_layout import decode_history

CAPACITY = 10_000  # decoded histories kept per subtask, least recently used dropped


class DecodedHistories:
    def __init__(self, seed: HistorySeed | None = None) -> None:
        self.histories: OrderedDict[int, CardHistory] = OrderedDict()
        self.seed = seed

    def get(self, card: int, read_state: Callable[[], str | None]) -> CardHistory:
        """The card's history: from memory, else decoded from `read_state()`, else its seed, else a new one."""
        history = self.histories.pop(card, None)
        if history is None:
            stored = read_state()
            history = decode_history(stored) if stored is not None else starting_history(self.seed, card)
        self.histories[card] = history
        if len(self.histories) > CAPACITY:
            self.histories.popitem(last=False)
        return history
