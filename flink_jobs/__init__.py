"""PyFlink streaming jobs for real-time AI (Pulsar, Feast, Triton)."""
