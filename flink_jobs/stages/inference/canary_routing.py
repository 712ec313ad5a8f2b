"""Which version of the model scores which card, from the versions Triton has loaded.

Triton's repository is the one source of truth, so every subtask of every job agrees and a
restart changes nothing: with the configured canary candidate loaded beside another version
(`rtai model canary start`), a stable hash of the card sends `share` of the cards to the candidate
and the rest to the champion; with the configured shadow version loaded (`rtai model shadow
start`), it scores every event beside the champion. Every version is asked for by number, the
champion too: unversioned, Triton answers with the highest loaded version, which is the candidate
from the moment `canary start` loads it until the job reads the routes again. With only one
loaded (the candidate promoted or rolled back, the shadow stopped), every card goes to it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

SHARE_SCALE = 2**64


def card_share(card_id: int) -> float:
    """A card's place in [0, 1): the same in every process and run (blake2b, not Python's hash)."""
    digest = hashlib.blake2b(card_id.to_bytes(8, "little", signed=True), digest_size=8).digest()
    return int.from_bytes(digest, "little") / SHARE_SCALE


@dataclass(frozen=True)
class Routes:
    champion: str  # the version asked for the champion's cards; "" Triton's default
    candidate: str = ""  # "" when no canary runs
    shadow: str = ""  # "" when no shadow runs

    def to_candidate(self, cards: list[int], share: float) -> np.ndarray:
        """Per card, True when the candidate scores it."""
        if not self.candidate:
            return np.zeros(len(cards), bool)
        return np.fromiter((card_share(card) < share for card in cards), bool, len(cards))


def routes(loaded: list[str], candidate_version: int, shadow_version: int) -> Routes:
    """The routes while Triton has `loaded` these versions (lowest first)."""
    candidate, shadow = str(candidate_version), str(shadow_version)
    champions = [v for v in loaded if v not in (candidate, shadow)] or loaded
    if not champions:
        return Routes("")
    champion = champions[-1]
    return Routes(
        champion,
        candidate if candidate in loaded and candidate != champion else "",
        shadow if shadow in loaded and shadow != champion else "",
    )
