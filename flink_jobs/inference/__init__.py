"""The inference job's parts: enrichment from Feast, scoring on Triton, rules, the batching operator."""
