"""The pipeline config file (pipelines/*.toml), its typed loader, and Pulsar topic names."""
