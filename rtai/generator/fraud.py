"""Labelled fraud: compromised cards start episodes whose charges take over time slots.

An episode is planned in full when it starts (charges with due times); each charge then
takes the first free slot at or after its due time, so fraud never changes the event
times themselves — a stream keeps its exact rate.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from rtai.generator import catalog
from rtai.generator.population import Population

PATTERNS = ("burst_small", "sudden_large", "far_merchant", "merchant_spray")
PATTERN_SHARE = np.array([0.3, 0.25, 0.25, 0.2])
# Chance that a slot starts an episode: with about 7 charges per episode, about 1% of events are
# fraud (0.5-2% in any output of some thousands of events).
EPISODE_RATE = 0.0014
LARGE_CATEGORIES = np.array([catalog.CATEGORY[name] for name in ("electronics", "travel", "fashion")])
SMALL_CATEGORIES = np.array([catalog.CATEGORY[name] for name in ("digital_goods", "entertainment")])
SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS


class Charge(NamedTuple):
    """A planned fraudulent charge; as a tuple it sorts by due time, then creation order (unique)."""

    due_ms: int
    order: int
    card: int
    merchant: int
    amount_eur: float
    ecom: bool
    pattern: int  # index into PATTERNS


@dataclass(frozen=True)
class Planned:
    """One charge of an episode, relative to the episode's start."""

    offset_ms: int
    merchant: int
    amount_eur: float
    ecom: bool


def _offsets(rng: np.random.Generator, n: int, mean_gap_ms: float) -> np.ndarray:
    """n charge times from the start of the episode on, with random gaps between them."""
    return np.concatenate([[0], np.cumsum(rng.exponential(mean_gap_ms, n - 1))]).astype(np.int64)


def _plan(offsets: np.ndarray, merchants: np.ndarray, amounts_eur: np.ndarray, ecom: np.ndarray) -> list[Planned]:
    columns = (offsets.tolist(), merchants.tolist(), amounts_eur.tolist(), ecom.tolist())
    return [Planned(*charge) for charge in zip(*columns, strict=True)]


class Planner:
    """Plans what a fraudster does with a card, pattern by pattern."""

    def __init__(self, population: Population) -> None:
        pop = self.population = population
        # The merchants each pattern picks from, found once rather than for every episode.
        self._small_shops = np.flatnonzero(np.isin(pop.merchant_category, SMALL_CATEGORIES))
        large = np.isin(pop.merchant_category, LARGE_CATEGORIES)
        at_home = [np.flatnonzero(large & (pop.merchant_country == c)) for c in range(len(catalog.HOME_COUNTRIES))]
        # A small population may lack such shops in a country: then any will do.
        self._large_shops = [shops if len(shops) else np.flatnonzero(large) for shops in at_home]
        self._patterns = (self._burst_small, self._sudden_large, self._far_merchant, self._merchant_spray)

    def plan(self, rng: np.random.Generator, pattern: int, customer: int) -> list[Planned]:
        return self._patterns[pattern](rng, customer)

    def _usual_eur(self, customer: int, merchants: np.ndarray) -> np.ndarray:
        """The customer's mean amount at these merchants' categories."""
        return np.exp(self.population.log_mean_eur[customer, self.population.merchant_category[merchants]])

    def _burst_small(self, rng: np.random.Generator, customer: int) -> list[Planned]:
        """Card testing: many small online charges at one or two shops within minutes."""
        n = int(rng.integers(8, 21))
        shops = rng.choice(self._small_shops, size=rng.integers(1, 3))
        return _plan(_offsets(rng, n, 20 * SECOND_MS), rng.choice(shops, n), rng.uniform(1.0, 5.0, n), np.ones(n, bool))

    def _sudden_large(self, rng: np.random.Generator, customer: int) -> list[Planned]:
        """One or two purchases many times larger than what the customer usually spends there."""
        n = int(rng.integers(1, 3))
        merchants = rng.choice(self._large_shops[self.population.customer_country[customer]], n)
        amounts = self._usual_eur(customer, merchants) * rng.uniform(6.0, 15.0, n)
        return _plan(_offsets(rng, n, 10 * MINUTE_MS), merchants, amounts, rng.random(n) < 0.5)

    def _far_merchant(self, rng: np.random.Generator, customer: int) -> list[Planned]:
        """Charges at a merchant in a far-away country, where the customer's own cards hardly ever go; mostly online."""
        n = int(rng.integers(1, 4))
        merchants = np.full(n, rng.choice(self.population.far_merchants))
        amounts = self._usual_eur(customer, merchants) * rng.uniform(1.0, 3.0, n)
        return _plan(_offsets(rng, n, 5 * MINUTE_MS), merchants, amounts, rng.random(n) < 0.8)

    def _merchant_spray(self, rng: np.random.Generator, customer: int) -> list[Planned]:
        """Ordinary-looking amounts at many different merchants in a short time."""
        n = int(rng.integers(6, 15))
        merchants = rng.choice(self.population.merchants, size=n, replace=False)
        amounts = self._usual_eur(customer, merchants) * rng.uniform(0.3, 1.2, n)
        return _plan(_offsets(rng, n, 40 * SECOND_MS), merchants, amounts, rng.random(n) < 0.6)


class FraudQueue:
    """The charges of running episodes, waiting for their time slots."""

    def __init__(self, population: Population) -> None:
        self._planner = Planner(population)
        self._waiting: list[Charge] = []
        self._created = 0

    def start_episodes(self, rng: np.random.Generator, starts_ms: np.ndarray) -> None:
        """Compromises a random card at each start time and plans what the fraudster does with it."""
        pop = self._planner.population
        cards = rng.integers(pop.cards, size=len(starts_ms))
        patterns = rng.choice(len(PATTERNS), size=len(starts_ms), p=PATTERN_SHARE)
        for start_ms, card, pattern in zip(starts_ms.tolist(), cards.tolist(), patterns.tolist(), strict=True):
            for step in self._planner.plan(rng, pattern, int(pop.card_customer[card])):
                due = start_ms + step.offset_ms
                charge = Charge(due, self._created, card, step.merchant, step.amount_eur, step.ecom, pattern)
                heapq.heappush(self._waiting, charge)
                self._created += 1

    def drop_due_before(self, time_ms: int) -> None:
        self._waiting = [charge for charge in self._waiting if charge.due_ms >= time_ms]
        heapq.heapify(self._waiting)

    def place(self, times_ms: np.ndarray) -> list[tuple[int, Charge]]:
        """(slot, charge) for every charge due by the end of this block that finds a free slot."""
        taken = np.zeros(len(times_ms), dtype=bool)
        placed = []
        while self._waiting and self._waiting[0].due_ms <= times_ms[-1]:
            slot = int(np.searchsorted(times_ms, self._waiting[0].due_ms))
            while slot < len(times_ms) and taken[slot]:
                slot += 1
            if slot == len(times_ms):
                break  # the block is full from here on; the rest waits for the next one
            taken[slot] = True
            placed.append((slot, heapq.heappop(self._waiting)))
        return placed
