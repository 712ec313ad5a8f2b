from card_realtime import card_realtime
from feast import FeatureService

fraud_scoring_v1 = FeatureService(
    name="fraud_scoring_v1",
    features=[card_realtime],
    description="The features the fraud model reads, in this order.",
)
