"""Enrichment stages: the Feast online features of a batch, with a TTL cache for slowly changing views."""
