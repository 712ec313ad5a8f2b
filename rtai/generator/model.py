"""Filling time slots with transactions: customers' habits, with fraud episodes laid over them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rtai.generator import catalog
from rtai.generator.fraud import EPISODE_RATE, FraudQueue
from rtai.generator.population import PREFERRED_CDF, Population, draw_merchants

# Where a customer's own purchases happen: mostly at their preferred merchants, some elsewhere
# at home, a few anywhere in the world (travel, foreign web shops).
PREFERRED_SHARE = 0.85
ABROAD_SHARE = 0.02
NOT_FRAUD = -1
# Longer than any fraud episode lasts: after warming up this long, fraud is at its steady share.
WARM_UP_MS = 20 * 60 * 1000


@dataclass(frozen=True)
class Batch:
    """Transactions as equal-length columns, in time order; codes index the catalog's tuples."""

    first_index: int  # position of the first row in the whole output, for event ids
    time_ms: np.ndarray
    card: np.ndarray
    customer: np.ndarray
    merchant: np.ndarray
    category: np.ndarray
    merchant_country: np.ndarray
    card_country: np.ndarray
    currency: np.ndarray
    amount: np.ndarray  # in the card's currency, rounded to cents
    ecom: np.ndarray
    pattern: np.ndarray  # index into fraud.PATTERNS, or NOT_FRAUD

    def __len__(self) -> int:
        return len(self.time_ms)

    @property
    def is_fraud(self) -> np.ndarray:
        return self.pattern != NOT_FRAUD


class TransactionModel:
    """Turns successive blocks of event times into transactions; the same seed and blocks give the same output."""

    def __init__(self, population: Population, rng: np.random.Generator) -> None:
        self.population = population
        self._rng = rng
        self._fraud = FraudQueue(population)
        self._emitted = 0

    def warm_up(self, start_ms: int, events_per_second: float) -> None:
        """Starts the fraud episodes that would be under way at start_ms had events been flowing before,
        so the fraud share is steady from the first event (only their charges from start_ms on remain)."""
        episodes = self._rng.binomial(round(events_per_second * WARM_UP_MS / 1000), EPISODE_RATE)
        self._fraud.start_episodes(self._rng, start_ms - self._rng.integers(1, WARM_UP_MS, episodes))
        self._fraud.drop_due_before(start_ms)

    def fill(self, times_ms: np.ndarray) -> Batch:
        """One transaction per time (sorted, epoch ms), continuing where the previous block ended."""
        pop, rng, n = self.population, self._rng, len(times_ms)
        card = np.searchsorted(pop.card_cdf, rng.random(n), side="right")
        customer = pop.card_customer[card]
        merchant = self._usual_merchants(customer)
        category = pop.merchant_category[merchant]
        sigma = catalog.CATEGORY_SIGMA[category]
        log_mean = pop.log_mean_eur[customer, category]
        # Log-normal around the customer's mean for the category (the -sigma^2/2 keeps the mean).
        amount_eur = np.exp(log_mean - sigma**2 / 2 + sigma * rng.standard_normal(n))
        ecom = rng.random(n) < catalog.CATEGORY_ECOM_SHARE[category]
        pattern = np.full(n, NOT_FRAUD, dtype=np.int8)
        if n:
            self._fraud.start_episodes(rng, times_ms[rng.integers(0, n, rng.binomial(n, EPISODE_RATE))])
            for slot, charge in self._fraud.place(times_ms):
                card[slot], merchant[slot] = charge.card, charge.merchant
                amount_eur[slot], ecom[slot], pattern[slot] = charge.amount_eur, charge.ecom, charge.pattern
        batch = self._batch(times_ms, card, merchant, amount_eur, ecom, pattern)
        self._emitted += n
        return batch

    def _usual_merchants(self, customer: np.ndarray) -> np.ndarray:
        pop, rng, n = self.population, self._rng, len(customer)
        merchant = pop.preferred[customer, np.searchsorted(PREFERRED_CDF, rng.random(n), side="right")]
        roll = rng.random(n)
        abroad = roll >= 1.0 - ABROAD_SHARE
        elsewhere = (roll >= PREFERRED_SHARE) & ~abroad
        home = pop.customer_country[customer[elsewhere]]
        merchant[elsewhere] = draw_merchants(
            rng, pop.merchant_cum, pop.country_bounds[home], pop.country_bounds[home + 1]
        )
        anywhere = int(abroad.sum())
        merchant[abroad] = draw_merchants(
            rng, pop.merchant_cum, np.zeros(anywhere, np.int64), np.full(anywhere, pop.merchants)
        )
        return merchant

    def _batch(
        self,
        times_ms: np.ndarray,
        card: np.ndarray,
        merchant: np.ndarray,
        amount_eur: np.ndarray,
        ecom: np.ndarray,
        pattern: np.ndarray,
    ) -> Batch:
        pop = self.population
        customer = pop.card_customer[card]
        card_country = pop.customer_country[customer]
        currency = catalog.HOME_CURRENCY[card_country]
        return Batch(
            first_index=self._emitted,
            time_ms=times_ms.astype(np.int64),
            card=card,
            customer=customer,
            merchant=merchant,
            category=pop.merchant_category[merchant],
            merchant_country=pop.merchant_country[merchant],
            card_country=card_country,
            currency=currency,
            amount=np.maximum(np.round(amount_eur * catalog.EUR_RATE[currency], 2), 0.01),
            ecom=ecom,
            pattern=pattern,
        )
