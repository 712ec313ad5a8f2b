"""The model's inputs that come from the event itself, not from Feast: computed the same way
for training (from the training set's event columns) and by the inference job (from the event)."""

from __future__ import annotations

REQUEST_FEATURES = ("amount", "is_ecom", "is_foreign")


def request_features(amount: float, channel: str, merchant_country: str, card_country: str) -> dict[str, float]:
    return {
        "amount": float(amount),
        "is_ecom": 1.0 if channel == "ecom" else 0.0,
        "is_foreign": 1.0 if merchant_country != card_country else 0.0,
    }
