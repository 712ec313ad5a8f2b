"""The seeded population: customers and their cards, merchants, and everyone's habits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rtai.generator import catalog

# How a customer's usual purchases spread over their preferred merchants: a few favourites dominate.
_PREFERRED_WEIGHTS = np.array([0.28, 0.20, 0.15, 0.11, 0.09, 0.07, 0.05, 0.05])
PREFERRED_MERCHANTS = len(_PREFERRED_WEIGHTS)
PREFERRED_CDF = np.cumsum(_PREFERRED_WEIGHTS) / np.cumsum(_PREFERRED_WEIGHTS)[-1]  # ends at exactly 1.0
SECOND_CARD_SHARE = 0.3
MERCHANTS_PER_CUSTOMER = 0.1
# Every home country gets at least this many merchants, so small populations still have shops everywhere.
MIN_MERCHANTS_PER_COUNTRY = 20
FAR_MERCHANT_SHARE = 0.05


@dataclass(frozen=True)
class Population:
    """Ids are positions: customer i, card j and merchant m are rows i, j and m of these arrays."""

    customer_country: np.ndarray  # per customer: index into catalog.HOME_COUNTRIES
    log_mean_eur: np.ndarray  # (customers, categories): log of the customer's mean amount in euros
    preferred: np.ndarray  # (customers, PREFERRED_MERCHANTS): merchant ids, favourite first
    card_customer: np.ndarray  # per card: its customer
    card_cdf: np.ndarray  # cumulative share of all card use, over cards; ends at exactly 1.0
    merchant_category: np.ndarray  # per merchant: index into events.MERCHANT_CATEGORIES
    merchant_country: np.ndarray  # per merchant: index into catalog.COUNTRIES
    merchant_cum: np.ndarray  # cumulative popularity, from 0: merchant m weighs cum[m + 1] - cum[m]
    country_bounds: np.ndarray  # home country c owns merchants bounds[c]:bounds[c + 1]; far ones follow

    @property
    def cards(self) -> int:
        return len(self.card_customer)

    @property
    def merchants(self) -> int:
        return len(self.merchant_category)

    @property
    def far_merchants(self) -> np.ndarray:
        return np.arange(self.country_bounds[-1], self.merchants)


def build(seed: int, customers: int) -> Population:
    """The same (seed, customers) always gives the same population."""
    rng = np.random.default_rng([seed, 0])
    country = rng.choice(len(catalog.HOME_COUNTRIES), size=customers, p=catalog.HOME_WEIGHTS).astype(np.int8)
    merchant_category, merchant_country, bounds = _merchants(rng, customers)
    merchant_cum = np.concatenate([[0.0], np.cumsum(rng.lognormal(0.0, 1.0, len(merchant_category)))])

    # A customer's overall spending level, and a taste per category on top of it.
    level = rng.normal(0.0, 0.4, size=(customers, 1))
    taste = rng.normal(0.0, 0.25, size=(customers, len(catalog.CATEGORY_MEAN_EUR)))
    log_mean_eur = np.log(catalog.CATEGORY_MEAN_EUR) + level + taste

    first = np.repeat(bounds[country], PREFERRED_MERCHANTS)
    stop = np.repeat(bounds[country + 1], PREFERRED_MERCHANTS)
    preferred = draw_merchants(rng, merchant_cum, first, stop).reshape(customers, PREFERRED_MERCHANTS)

    card_count = 1 + (rng.random(customers) < SECOND_CARD_SHARE)
    card_customer = np.repeat(np.arange(customers), card_count)
    is_second = np.arange(len(card_customer)) != np.repeat(np.cumsum(card_count) - card_count, card_count)
    share = np.where(card_count[card_customer] == 2, np.where(is_second, 0.25, 0.75), 1.0)
    activity = rng.gamma(2.0, 0.5, size=customers)  # some customers pay far more often than others
    card_cdf = np.cumsum(activity[card_customer] * share)
    return Population(
        customer_country=country,
        log_mean_eur=log_mean_eur,
        preferred=preferred,
        card_customer=card_customer,
        card_cdf=card_cdf / card_cdf[-1],
        merchant_category=merchant_category,
        merchant_country=merchant_country,
        merchant_cum=merchant_cum,
        country_bounds=bounds,
    )


def _merchants(rng: np.random.Generator, customers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Categories and countries of the merchants, grouped by home country, far-away ones last."""
    total = customers * MERCHANTS_PER_CUSTOMER
    per_country = np.maximum(MIN_MERCHANTS_PER_COUNTRY, np.round(catalog.HOME_WEIGHTS * total)).astype(np.int64)
    far = max(len(catalog.FAR_COUNTRIES), round(total * FAR_MERCHANT_SHARE))
    home_country = np.repeat(np.arange(len(catalog.HOME_COUNTRIES)), per_country)
    far_country = len(catalog.HOME_COUNTRIES) + np.arange(far) % len(catalog.FAR_COUNTRIES)
    # Far-away merchants are the ones customers reach online, so online categories dominate there.
    far_share = catalog.CATEGORY_SHARE * catalog.CATEGORY_ECOM_SHARE
    category = np.concatenate(
        [
            rng.choice(len(catalog.CATEGORY_SHARE), size=len(home_country), p=catalog.CATEGORY_SHARE),
            rng.choice(len(far_share), size=far, p=far_share / far_share.sum()),
        ]
    ).astype(np.int8)
    country = np.concatenate([home_country, far_country]).astype(np.int8)
    bounds = np.concatenate([[0], np.cumsum(per_country)])
    return category, country, bounds


def draw_merchants(rng: np.random.Generator, cum: np.ndarray, first: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """One merchant from each range first[i]:stop[i], by popularity."""
    low, high = cum[first], cum[stop]
    picked = np.searchsorted(cum, low + rng.random(len(first)) * (high - low), side="right") - 1
    return np.clip(picked, first, stop - 1)  # guards the float edge at the top of a range
