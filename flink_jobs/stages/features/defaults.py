"""What a feature is when Feast has no value for it: the card or merchant was never seen,
or its row is older than the feature view's ttl. Training fills gaps with the same values
the inference job uses, so the model never meets a default it was not trained with."""

from __future__ import annotations

# The column that marks a row where at least one feature is a default.
MISSING_FLAG = "features_missing"

# A card with no transaction before: nothing in any window, no predecessor (-1 s), and an
# amount equal to its own mean (ratio 1), as card_windows defines a card's first transaction.
SPECIAL = {"seconds_since_prev_txn": -1.0, "amount_to_mean_ratio": 1.0}


def default(feature: str) -> float:
    """Every count, sum, mean, spread and share is 0 when there is nothing to count."""
    return SPECIAL.get(feature, 0.0)
