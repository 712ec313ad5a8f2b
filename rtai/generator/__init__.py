"""A deterministic generator of realistic card transactions with labelled fraud.

One model (`model.TransactionModel`) fills time slots with transactions of a seeded
population (`population`); about 1% of them are fraud of four labelled patterns
(`fraud`). `history` writes days of them to Parquet, following the daily rhythm
(`rhythm`); `stream` publishes live ones to Pulsar at a steady rate. The same seed
gives the same population in both, so live events use the cards, customers and
merchants the history was built from.
"""
