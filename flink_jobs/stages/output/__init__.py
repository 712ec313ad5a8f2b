"""Output stages: prediction records, rules to alerts, dead letters."""
