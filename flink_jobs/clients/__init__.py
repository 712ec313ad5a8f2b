"""The clients of the servers the jobs call: the Flink Pulsar connector's sources and sinks,
the Feast feature server, Triton."""
