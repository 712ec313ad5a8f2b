"""Input stages: raw Pulsar messages to validated events."""
