from card_realtime import card_realtime
from card_stats import card_stats
from feast import FeatureService
from merchant_stats import merchant_stats

# Version 1 of what the fraud model reads from Feast, in this order. A model trained on
# other features gets a new service (fraud_scoring_v2); a served model's service never changes.
fraud_scoring_v1 = FeatureService(
    name="fraud_scoring_v1",
    features=[card_realtime, card_stats, merchant_stats],
    description="The Feast features of the fraud model, in its input order.",
    tags={"model": "fraud"},
)
