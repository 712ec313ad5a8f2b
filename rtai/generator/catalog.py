"""The fixed facts the population is drawn from: countries, currencies, merchant categories."""

from __future__ import annotations

import numpy as np

from flink_jobs.events import MERCHANT_CATEGORIES

# Where card holders live, with their share of customers, and each country's currency.
HOME_COUNTRIES = ("DE", "FR", "GB", "ES", "IT", "NL", "PL", "SE", "US", "CH")
HOME_WEIGHTS = np.array([0.22, 0.15, 0.13, 0.10, 0.10, 0.08, 0.07, 0.05, 0.06, 0.04])
# Far-away merchant countries: few merchants, rarely used by the customers themselves.
FAR_COUNTRIES = ("BR", "NG", "VN", "ID", "PH", "MX", "TH", "IN")
COUNTRIES = HOME_COUNTRIES + FAR_COUNTRIES

CURRENCIES = ("EUR", "GBP", "PLN", "SEK", "USD", "CHF")
HOME_CURRENCY = np.array([0, 0, 1, 0, 0, 0, 2, 3, 4, 5], dtype=np.int8)  # index into CURRENCIES
# Units of each currency per euro: amounts are modelled in euros, charged in the card's currency.
EUR_RATE = np.array([1.0, 0.85, 4.3, 11.5, 1.08, 0.95])

CATEGORY = {name: i for i, name in enumerate(MERCHANT_CATEGORIES)}
# Per category, in MERCHANT_CATEGORIES order: share of merchants, mean amount in euros,
# log-normal spread of amounts, and the share of payments made online.
_CATEGORY_TABLE = {
    "grocery": (0.26, 40.0, 0.6, 0.05),
    "restaurant": (0.20, 30.0, 0.5, 0.05),
    "fuel": (0.08, 60.0, 0.35, 0.0),
    "travel": (0.04, 400.0, 0.8, 0.7),
    "electronics": (0.05, 250.0, 0.9, 0.45),
    "fashion": (0.10, 80.0, 0.7, 0.4),
    "entertainment": (0.09, 35.0, 0.6, 0.35),
    "health": (0.07, 45.0, 0.6, 0.1),
    "digital_goods": (0.08, 15.0, 0.7, 1.0),
    "cash_advance": (0.03, 200.0, 0.5, 0.0),
}
_COLUMNS = np.array([_CATEGORY_TABLE[name] for name in MERCHANT_CATEGORIES])
CATEGORY_SHARE = _COLUMNS[:, 0] / _COLUMNS[:, 0].sum()
CATEGORY_MEAN_EUR = _COLUMNS[:, 1]
CATEGORY_SIGMA = _COLUMNS[:, 2]
CATEGORY_ECOM_SHARE = _COLUMNS[:, 3]
