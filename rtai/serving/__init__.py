"""The scoring API: one transaction answered synchronously with the stream's features and model."""
