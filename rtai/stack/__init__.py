"""The local stack: Pulsar, Triton, the Feast feature server, Redis and a Flink cluster as processes."""
